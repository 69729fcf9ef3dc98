//! A stand-in for a leaking or runaway task, used by the resource-limit tests and the
//! docs: it grows its resident memory in steps, or keeps a core busy.
//!
//! hog memory STEP_MB EVERY_MS [MAX_MB]   — touch STEP_MB more every EVERY_MS, up to MAX_MB
//! hog cpu                                 — spin forever

use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| {
        args.get(i)
            .and_then(|a| a.parse::<u64>().ok())
            .unwrap_or(default)
    };
    match args.first().map(String::as_str) {
        Some("memory") => {
            let (step, every, max) = (num(1, 10), num(2, 200), num(3, u64::MAX >> 20));
            let mut held: Vec<Vec<u8>> = Vec::new();
            let mut total = 0;
            loop {
                if total < max {
                    // Written to, so the pages are resident, not just reserved.
                    held.push(vec![1u8; (step << 20) as usize]);
                    total += step;
                    println!("holding {total} MB");
                }
                std::thread::sleep(Duration::from_millis(every));
            }
        }
        Some("cpu") => {
            println!("spinning");
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        _ => {
            eprintln!("usage: hog memory STEP_MB EVERY_MS [MAX_MB] | hog cpu");
            std::process::exit(2);
        }
    }
}
