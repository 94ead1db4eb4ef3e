//! A token bucket shared by all downloads: at most `bytes_per_second` on average, with bursts of up
//! to one second's worth.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct Bandwidth {
    bytes_per_second: u64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// May go negative: a chunk larger than what is available is let through at once, and the
    /// debt is paid by waiting (this caller now, later callers after it).
    tokens: f64,
    refilled: Instant,
}

impl Bandwidth {
    /// A limit of `bytes_per_second` (at least 1).
    pub fn new(bytes_per_second: u64) -> Bandwidth {
        let bytes_per_second = bytes_per_second.max(1);
        Bandwidth {
            bytes_per_second,
            bucket: Mutex::new(Bucket {
                tokens: bytes_per_second as f64,
                refilled: Instant::now(),
            }),
        }
    }

    pub fn bytes_per_second(&self) -> u64 {
        self.bytes_per_second
    }

    /// Takes `bytes` from the bucket, waiting for them when it is in debt.
    pub async fn take(&self, bytes: u64) {
        let rate = self.bytes_per_second as f64;
        let wait = {
            let mut bucket = self.bucket.lock().expect("lock not poisoned");
            let now = Instant::now();
            let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
            bucket.refilled = now;
            bucket.tokens -= bytes as f64;
            if bucket.tokens < 0.0 {
                Duration::from_secs_f64(-bucket.tokens / rate)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}
