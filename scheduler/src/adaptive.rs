//! Adaptive scaling policy (pure: no I/O, no clock). Called once per interval with the
//! cluster's [`ClusterLoad`] and the number of workers it has or is starting, it answers
//! how many workers the cluster should have: up promptly when the work needs more, down
//! only after the target stayed lower for `wait_intervals` consecutive ticks, and then only
//! to the highest target seen meanwhile (no flapping), always within `[minimum, maximum]`.
//!
//! The target is `ceil(expected_work / (target_duration * threads_per_worker))`: enough
//! workers that each has about `target_duration` of work. Scale-down goes through
//! [`crate::state::Event::RetireWorkers`] (results are moved first; pick the workers with
//! [`crate::state::SchedulerState::retire_candidates`]).

use std::time::Duration;

use crate::state::ClusterLoad;

/// Policy knobs. [`AdaptiveConfig::bounds`] fills in the defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptiveConfig {
    pub minimum: usize,
    pub maximum: usize,
    /// The work each worker should have (default 5 s).
    pub target_duration: Duration,
    /// Consecutive ticks with a lower target before scaling down (default 3; 0 acts as 1).
    pub wait_intervals: u32,
}

/// Unbounded (0 to `usize::MAX` workers, like Dask's `adapt()`), 5 s of work per worker,
/// down after 3 lower ticks.
impl Default for AdaptiveConfig {
    fn default() -> Self {
        Self::bounds(0, usize::MAX)
    }
}

impl AdaptiveConfig {
    /// `minimum..=maximum` workers, 5 s of work per worker, down after 3 lower ticks.
    pub fn bounds(minimum: usize, maximum: usize) -> Self {
        Self {
            minimum,
            maximum,
            target_duration: Duration::from_secs(5),
            wait_intervals: 3,
        }
    }
}

/// What to do this interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Hold,
    /// Start workers until the cluster has `to`.
    ScaleUp {
        to: usize,
    },
    /// Retire workers until the cluster has `to`.
    ScaleDown {
        to: usize,
    },
}

/// The adaptive policy with its memory of recent targets.
#[derive(Clone, Debug)]
pub struct Adaptive {
    config: AdaptiveConfig,
    /// Consecutive ticks whose target was below the current size.
    lower_ticks: u32,
    /// Highest target among those ticks.
    lower_max: usize,
    /// Threads per worker last seen, used while no worker is live (1 before any).
    threads_per_worker: f64,
}

impl Adaptive {
    /// Errors if `minimum > maximum`, `maximum == 0` or `target_duration` is zero, naming
    /// the values.
    pub fn new(config: AdaptiveConfig) -> Result<Self, String> {
        if config.maximum == 0 {
            return Err(format!(
                "adaptive scaling needs maximum >= 1 (minimum = {}, maximum = {})",
                config.minimum, config.maximum
            ));
        }
        if config.minimum > config.maximum {
            return Err(format!(
                "adaptive scaling needs minimum <= maximum (minimum = {}, maximum = {})",
                config.minimum, config.maximum
            ));
        }
        if config.target_duration.is_zero() {
            return Err("adaptive scaling needs a target_duration above zero (got 0 s)".into());
        }
        Ok(Self {
            config,
            lower_ticks: 0,
            lower_max: 0,
            threads_per_worker: 1.0,
        })
    }

    pub fn config(&self) -> &AdaptiveConfig {
        &self.config
    }

    /// Workers the load calls for: `ceil(expected_work / (target_duration *
    /// threads_per_worker))`, at least 1 while any task is queued or processing, clamped
    /// to `[minimum, maximum]`; `minimum` without work. Threads per worker come from the
    /// load (the last seen while no worker is live; 1 before any).
    pub fn target(&self, load: &ClusterLoad) -> usize {
        let c = &self.config;
        let has_work = load.queued_tasks + load.processing > 0 || load.expected_work_us > 0.0;
        if !has_work {
            return c.minimum;
        }
        let per_worker = if load.workers > 0 && load.threads > 0 {
            load.threads as f64 / load.workers as f64
        } else {
            self.threads_per_worker
        };
        let capacity_us = c.target_duration.as_secs_f64() * 1e6 * per_worker;
        let raw = (load.expected_work_us.max(0.0) / capacity_us).ceil();
        // Saturating float-to-int conversion: huge work asks for `usize::MAX`, clamped below.
        let raw = (raw as usize).max(1);
        raw.clamp(c.minimum, c.maximum)
    }

    /// One interval: `current` is the number of workers the cluster has or is starting.
    /// Scales up on the first tick whose target exceeds `current`; scales down only after
    /// `wait_intervals` consecutive ticks with a lower target, to the highest of those
    /// targets. A `current` outside `[minimum, maximum]` is corrected at once.
    pub fn tick(&mut self, load: &ClusterLoad, current: usize) -> Decision {
        if load.workers > 0 && load.threads > 0 {
            self.threads_per_worker = load.threads as f64 / load.workers as f64;
        }
        let target = self.target(load);
        if current > self.config.maximum {
            self.reset();
            return Decision::ScaleDown {
                to: self.config.maximum,
            };
        }
        if target > current {
            self.reset();
            return Decision::ScaleUp { to: target };
        }
        if target == current {
            self.reset();
            return Decision::Hold;
        }
        self.lower_ticks += 1;
        self.lower_max = self.lower_max.max(target);
        if self.lower_ticks >= self.config.wait_intervals.max(1) {
            let to = self.lower_max;
            self.reset();
            return Decision::ScaleDown { to };
        }
        Decision::Hold
    }

    fn reset(&mut self) {
        self.lower_ticks = 0;
        self.lower_max = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `work_s` seconds of expected work on `workers` workers of `threads` threads each.
    fn load(work_s: f64, workers: usize, threads: u64) -> ClusterLoad {
        let tasks = (work_s * 1000.0).ceil() as u64; // 1 ms tasks
        ClusterLoad {
            workers,
            threads: threads * workers as u64,
            queued_tasks: tasks,
            processing: 0,
            expected_work_us: work_s * 1e6,
        }
    }

    fn adaptive(minimum: usize, maximum: usize) -> Adaptive {
        Adaptive::new(AdaptiveConfig::bounds(minimum, maximum)).unwrap()
    }

    #[test]
    fn the_target_gives_each_worker_about_the_target_duration() {
        let a = adaptive(0, 100);
        // 2 threads per worker, 5 s each: 10 s of work per worker.
        assert_eq!(a.target(&load(100.0, 4, 2)), 10);
        assert_eq!(a.target(&load(101.0, 4, 2)), 11);
        // A little work still needs one worker; none needs the minimum.
        assert_eq!(a.target(&load(0.001, 4, 2)), 1);
        assert_eq!(a.target(&ClusterLoad::default()), 0);
        let zero_duration = ClusterLoad {
            processing: 3,
            ..ClusterLoad::default()
        };
        assert_eq!(a.target(&zero_duration), 1);
        // No live worker: one thread per worker assumed.
        assert_eq!(a.target(&load(20.0, 0, 0)), 4);
        assert_eq!(adaptive(2, 5).target(&ClusterLoad::default()), 2);
    }

    #[test]
    fn targets_are_clamped_to_minimum_and_maximum() {
        let mut a = adaptive(2, 5);
        assert_eq!(a.target(&load(1e6, 1, 1)), 5);
        assert_eq!(a.target(&load(0.5, 1, 1)), 2);
        assert_eq!(a.tick(&load(1e6, 1, 1), 1), Decision::ScaleUp { to: 5 });
        // Far more work than the maximum covers: hold at the maximum.
        assert_eq!(a.tick(&load(1e6, 5, 1), 5), Decision::Hold);
        // Above the maximum (it was lowered): down at once.
        assert_eq!(a.tick(&load(1e6, 8, 1), 8), Decision::ScaleDown { to: 5 });
        // Below the minimum: up at once, even without work.
        assert_eq!(
            a.tick(&ClusterLoad::default(), 0),
            Decision::ScaleUp { to: 2 }
        );
        // Without work, never below the minimum.
        for _ in 0..10 {
            assert_eq!(a.tick(&ClusterLoad::default(), 2), Decision::Hold);
        }
        let mut decisions = Vec::new();
        for _ in 0..10 {
            decisions.push(a.tick(&ClusterLoad::default(), 4));
        }
        assert_eq!(decisions[2], Decision::ScaleDown { to: 2 });
        for d in decisions {
            if let Decision::ScaleDown { to } | Decision::ScaleUp { to } = d {
                assert!((2..=5).contains(&to), "{d:?}");
            }
        }
        // Huge values saturate instead of overflowing.
        let huge = ClusterLoad {
            expected_work_us: f64::MAX,
            ..load(1.0, 1, 1)
        };
        assert_eq!(a.target(&huge), 5);
    }

    #[test]
    fn scales_up_promptly() {
        let mut a = adaptive(1, 50);
        assert_eq!(a.tick(&load(1.0, 1, 1), 1), Decision::Hold);
        // The first tick with more work than one worker should have.
        assert_eq!(a.tick(&load(50.0, 1, 1), 1), Decision::ScaleUp { to: 10 });
        // Workers starting count as current: nothing more to do.
        assert_eq!(a.tick(&load(50.0, 1, 1), 10), Decision::Hold);
    }

    #[test]
    fn scales_down_only_after_the_wait_and_to_the_highest_recent_target() {
        let mut a = adaptive(1, 50);
        // 10 workers; the work drops to 6, 4, 5 workers' worth.
        assert_eq!(a.tick(&load(30.0, 10, 1), 10), Decision::Hold);
        assert_eq!(a.tick(&load(20.0, 10, 1), 10), Decision::Hold);
        assert_eq!(
            a.tick(&load(25.0, 10, 1), 10),
            Decision::ScaleDown { to: 6 }
        );
        // The window starts over after a decision.
        assert_eq!(a.tick(&load(5.0, 6, 1), 6), Decision::Hold);
        assert_eq!(a.tick(&load(5.0, 6, 1), 6), Decision::Hold);
        assert_eq!(a.tick(&load(5.0, 6, 1), 6), Decision::ScaleDown { to: 1 });
        // An interval at the current size breaks the window.
        let mut a = adaptive(1, 50);
        assert_eq!(a.tick(&load(5.0, 4, 1), 4), Decision::Hold);
        assert_eq!(a.tick(&load(5.0, 4, 1), 4), Decision::Hold);
        assert_eq!(a.tick(&load(20.0, 4, 1), 4), Decision::Hold);
        assert_eq!(a.tick(&load(5.0, 4, 1), 4), Decision::Hold);
        assert_eq!(a.tick(&load(5.0, 4, 1), 4), Decision::Hold);
        assert_eq!(a.tick(&load(5.0, 4, 1), 4), Decision::ScaleDown { to: 1 });
        // wait_intervals = 0 acts as 1.
        let mut a = Adaptive::new(AdaptiveConfig {
            wait_intervals: 0,
            ..AdaptiveConfig::bounds(0, 10)
        })
        .unwrap();
        assert_eq!(
            a.tick(&ClusterLoad::default(), 3),
            Decision::ScaleDown { to: 0 }
        );
    }

    #[test]
    fn an_oscillating_load_does_not_flap() {
        let mut a = adaptive(1, 50);
        let mut current = 10;
        let mut changes = 0;
        for i in 0..100 {
            // Busy and idle intervals alternate: 10 workers' worth, then 2 workers' worth.
            let work = if i % 2 == 0 { 50.0 } else { 10.0 };
            match a.tick(&load(work, current, 1), current) {
                Decision::Hold => {}
                Decision::ScaleUp { to } | Decision::ScaleDown { to } => {
                    current = to;
                    changes += 1;
                }
            }
        }
        assert_eq!((changes, current), (0, 10));
        // Two lower ticks, one high one, repeated: still never down.
        let mut a = adaptive(1, 50);
        for i in 0..99 {
            let work = if i % 3 == 2 { 50.0 } else { 10.0 };
            assert_eq!(a.tick(&load(work, 10, 1), 10), Decision::Hold, "tick {i}");
        }
    }

    #[test]
    fn the_default_is_unbounded() {
        let mut a = Adaptive::new(AdaptiveConfig::default()).unwrap();
        assert_eq!(a.config().target_duration, Duration::from_secs(5));
        assert_eq!(a.config().wait_intervals, 3);
        assert_eq!(a.target(&ClusterLoad::default()), 0);
        assert_eq!(a.tick(&load(1e4, 1, 1), 1), Decision::ScaleUp { to: 2000 });
    }

    #[test]
    fn bad_bounds_are_errors_naming_the_values() {
        let e = Adaptive::new(AdaptiveConfig::bounds(5, 2)).unwrap_err();
        assert!(
            e.contains("minimum = 5") && e.contains("maximum = 2"),
            "{e}"
        );
        let e = Adaptive::new(AdaptiveConfig::bounds(0, 0)).unwrap_err();
        assert!(e.contains("maximum = 0"), "{e}");
        let e = Adaptive::new(AdaptiveConfig {
            target_duration: Duration::ZERO,
            ..AdaptiveConfig::bounds(1, 2)
        })
        .unwrap_err();
        assert!(e.contains("target_duration"), "{e}");
        assert!(Adaptive::new(AdaptiveConfig::bounds(3, 3)).is_ok());
    }
}
