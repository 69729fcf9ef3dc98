//! Dependency cycles between tasks: a depth-first search that returns each cycle once,
//! as the list of node indices along it (`a -> b -> a` is `[a, b]`).

/// Every distinct cycle in the graph given as adjacency lists (`edges[i]` = the nodes
/// `i` depends on). Cycles are found in node order, so the first node of each cycle is
/// the earliest one in the file that the search reached it from.
pub fn find_cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let n = edges.len();
    let mut mark = vec![Mark::New; n];
    let mut cycles: Vec<Vec<usize>> = Vec::new();
    let mut seen: Vec<Vec<usize>> = Vec::new();
    for start in 0..n {
        if mark[start] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, index of the next edge to follow).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::OnStack;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let Some(&to) = edges[node].get(*next) else {
                mark[node] = Mark::Done;
                stack.pop();
                continue;
            };
            *next += 1;
            if to >= n {
                continue;
            }
            match mark[to] {
                Mark::New => {
                    mark[to] = Mark::OnStack;
                    stack.push((to, 0));
                }
                Mark::OnStack => {
                    let from = stack.iter().position(|&(s, _)| s == to).unwrap_or(0);
                    let cycle: Vec<usize> = stack[from..].iter().map(|&(s, _)| s).collect();
                    let mut key = cycle.clone();
                    key.sort_unstable();
                    if !seen.contains(&key) {
                        seen.push(key);
                        cycles.push(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
    }
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_cycles_in_a_dag() {
        assert!(find_cycles(&[vec![1, 2], vec![2], vec![]]).is_empty());
    }

    #[test]
    fn finds_self_loops_and_longer_cycles() {
        assert_eq!(find_cycles(&[vec![0]]), vec![vec![0]]);
        assert_eq!(
            find_cycles(&[vec![1], vec![2], vec![0]]),
            vec![vec![0, 1, 2]]
        );
    }

    #[test]
    fn finds_separate_cycles_once_each() {
        // 0 <-> 1, 2 -> 3 -> 2, 4 -> 0
        let g = vec![vec![1], vec![0], vec![3], vec![2], vec![0]];
        assert_eq!(find_cycles(&g), vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn out_of_range_edges_are_ignored() {
        assert!(find_cycles(&[vec![7]]).is_empty());
    }
}
