//! Depth-first task priorities, so that partial results are consumed early.
//!
//! Tasks are numbered in the post-order of a depth-first walk from the output chunks,
//! visiting each task's inputs in order. Running ready tasks lowest-number-first then
//! finishes one branch of a reduction tree before starting the next, which keeps the
//! number of live intermediate chunks small.

use crate::{Graph, TaskId};

/// Priority of every task, indexed by [`Graph::task_index`]; lower runs first.
pub fn depth_first_priorities(graph: &Graph) -> Vec<u64> {
    const UNSEEN: u64 = u64::MAX;
    let n = graph.num_tasks() as usize;
    let mut priority = vec![UNSEEN; n];
    let mut next = 0u64;
    // Stack entries: (task, its inputs, how many of them were pushed already).
    let mut stack: Vec<(TaskId, Vec<TaskId>, usize)> = Vec::new();
    let mut scratch = Vec::new();
    // Outputs first; then the tasks no output reads (chunks a slice skips), which still
    // run (the graph is not culled), after everything the outputs need.
    let outputs = graph
        .outputs()
        .iter()
        .flat_map(|&layer| (0..graph.layer_tasks(layer)).map(move |chunk| TaskId { layer, chunk }));
    let rest = (0..graph.num_tasks()).map(|i| graph.task_at(i));
    for root in outputs.chain(rest) {
        {
            if priority[graph.task_index(root) as usize] != UNSEEN {
                continue;
            }
            // Mark on push so a task shared by several parents is walked once.
            priority[graph.task_index(root) as usize] = UNSEEN - 1;
            scratch.clear();
            graph.inputs_of(root, &mut scratch);
            stack.push((root, scratch.clone(), 0));
            while let Some((task, inputs, pos)) = stack.last_mut() {
                if let Some(&input) = inputs.get(*pos) {
                    *pos += 1;
                    let i = graph.task_index(input) as usize;
                    if priority[i] == UNSEEN {
                        priority[i] = UNSEEN - 1;
                        let mut deps = Vec::new();
                        graph.inputs_of(input, &mut deps);
                        stack.push((input, deps, 0));
                    }
                } else {
                    priority[graph.task_index(*task) as usize] = next;
                    next += 1;
                    stack.pop();
                }
            }
        }
    }
    debug_assert!(priority.iter().all(|&p| p < UNSEEN - 1));
    priority
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sum_tree_graph;

    #[test]
    fn reduction_steps_follow_their_inputs() {
        // 8 chunks, split_every 2: partials 0..8, then 4, 2, 1 combines.
        let g = sum_tree_graph(8, 2);
        let p = depth_first_priorities(&g);
        let prio = |layer, chunk| p[g.task_index(TaskId { layer, chunk }) as usize];
        // The first combine runs right after its two inputs, before chunk 2 starts.
        assert_eq!(prio(0, 0), 0);
        assert_eq!(prio(0, 1), 1);
        assert_eq!(prio(1, 0), 2);
        assert_eq!(prio(0, 2), 3);
        // The root is last, and every task got a distinct priority.
        assert_eq!(prio(3, 0), g.num_tasks() - 1);
        let mut sorted = p.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len() as u64, g.num_tasks());
    }
}
