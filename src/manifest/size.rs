//! Sizes with units, as the manifest writes them (`max_memory: 512MB`,
//! `settings.max_disk: 1GB`) and as bts prints them back (`512 MB`). Units are powers
//! of 1024 whichever way they are spelled (`K`, `KB`, `KiB`), as docker and systemd read
//! them; a size needs a unit (a bare `512` is an error, like a bare duration).

const UNITS: [(&str, u64); 5] = [
    ("b", 1),
    ("k", 1 << 10),
    ("m", 1 << 20),
    ("g", 1 << 30),
    ("t", 1 << 40),
];

/// Parse `512MB`, `1.5 GiB`, `300M`, `2048KB`, `10B` into bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim());
    if num.is_empty() {
        return Err(format!("`{text}` does not start with a number"));
    }
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{num}` is not a number"))?;
    if unit.is_empty() {
        return Err(format!("`{text}` has no unit"));
    }
    let lower = unit.to_ascii_lowercase();
    let head = match lower.as_str() {
        "b" => "b",
        "k" | "kb" | "kib" => "k",
        "m" | "mb" | "mib" => "m",
        "g" | "gb" | "gib" => "g",
        "t" | "tb" | "tib" => "t",
        _ => return Err(format!("unknown unit `{unit}`")),
    };
    let factor = UNITS.iter().find(|u| u.0 == head).map_or(1, |u| u.1);
    let bytes = value * factor as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("`{text}` is too large"));
    }
    Ok(bytes.round() as u64)
}

/// `512 MB`, `1.5 GB`, `300 KB`, `10 B`: at most one decimal, none when whole.
pub fn size_text(bytes: u64) -> String {
    const NAMES: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < NAMES.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    let tenths = (v * 10.0).round() / 10.0;
    if tenths.fract() == 0.0 {
        format!("{} {}", tenths as u64, NAMES[u])
    } else {
        format!("{tenths:.1} {}", NAMES[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_powers_of_1024() {
        assert_eq!(parse_size("512MB"), Ok(512 << 20));
        assert_eq!(parse_size("512 mib"), Ok(512 << 20));
        assert_eq!(parse_size("300M"), Ok(300 << 20));
        assert_eq!(parse_size("1.5GB"), Ok(3 << 29));
        assert_eq!(parse_size("2048KB"), Ok(2 << 20));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert_eq!(parse_size("10B"), Ok(10));
        assert_eq!(parse_size("512").unwrap_err(), "`512` has no unit");
        assert!(parse_size("MB").unwrap_err().contains("number"));
        assert!(parse_size("5XB").unwrap_err().contains("unknown unit `XB`"));
        assert!(parse_size("1.2.3MB").is_err());
        assert!(parse_size("99999999999TB")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn sizes_print_short() {
        assert_eq!(size_text(512 << 20), "512 MB");
        assert_eq!(size_text(3 << 29), "1.5 GB");
        assert_eq!(size_text(10), "10 B");
        assert_eq!(size_text(1023), "1023 B");
        assert_eq!(size_text(530 * (1 << 20) + 300_000), "530.3 MB");
    }
}
