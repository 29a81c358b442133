//! One memory budget, in bytes, for what decoding and encoding hold at once.
//!
//! Open sources (a decoder's reference frames and queues, estimated from the frame size by
//! [`source_bytes`]) and encoders (the frames they resize and the images they write) reserve
//! their bytes before they take them and give them back when they are done. A reservation that
//! does not fit waits, a bounded time, for others to finish; the pool closes idle sources to
//! make room first. The caches of decoded frames and encoded images have fixed budgets of their
//! own that the caller carves out of the same total (see the server's settings).

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::DecodeError;

/// Bytes an open source holds per pixel of its frames, measured here with GStreamer 1.22's
/// `avdec_h264` (two threads) and our converter: a 1080p source added 126 MB to the process, a
/// 4K UHD one 400-510 MB (reference frames, each thread's frames, buffer pools, the RGB frame).
const BYTES_PER_PIXEL: u64 = 48;

/// What an open source of `width` x `height` frames is taken to hold.
pub fn source_bytes(width: u32, height: u32) -> u64 {
    source_bytes_of_pixels(u64::from(width) * u64::from(height))
}

/// [`source_bytes`] of frames of `pixels` pixels.
pub fn source_bytes_of_pixels(pixels: u64) -> u64 {
    pixels.saturating_mul(BYTES_PER_PIXEL)
}

/// Hands memory that was freed back to the operating system. Closing a pipeline frees its
/// frames, but glibc keeps freed heap memory for reuse, so the process would stay at its
/// high-water mark; after sources close this returns what is free.
pub(crate) fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists (it is thread-safe and takes no
    // pointers of ours); 0 keeps no padding at the top of the heap.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Bytes reserved out of a fixed total, shared by every holder.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: u64,
    used: Mutex<u64>,
    released: Condvar,
}

impl MemoryBudget {
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: Mutex::new(0),
            released: Condvar::new(),
        })
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        *self.used.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves `bytes` if they fit now.
    pub fn try_reserve(self: &Arc<Self>, bytes: u64) -> Option<Reservation> {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        (*used + bytes <= self.limit).then(|| {
            *used += bytes;
            Reservation {
                budget: Arc::clone(self),
                bytes,
            }
        })
    }

    /// Reserves `bytes`, waiting up to `wait` for others to give back enough. More than the
    /// whole budget is refused at once.
    pub fn reserve(self: &Arc<Self>, bytes: u64, wait: Duration) -> Result<Reservation, DecodeError> {
        if bytes > self.limit {
            return Err(DecodeError::OverBudget {
                needed: bytes,
                budget: self.limit,
            });
        }
        let deadline = Instant::now() + wait;
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        while *used + bytes > self.limit {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(DecodeError::MemoryBusy {
                    needed: bytes,
                    budget: self.limit,
                });
            }
            used = self
                .released
                .wait_timeout(used, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *used += bytes;
        Ok(Reservation {
            budget: Arc::clone(self),
            bytes,
        })
    }

    fn release(&self, bytes: u64) {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        *used = used.saturating_sub(bytes);
        drop(used);
        self.released.notify_all();
    }
}

/// Bytes held out of a [`MemoryBudget`]; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl Reservation {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Gives back what is held beyond `bytes` (once the real size is known).
    pub fn shrink_to(&mut self, bytes: u64) {
        if bytes < self.bytes {
            self.budget.release(self.bytes - bytes);
            self.bytes = bytes;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_the_limit_and_come_back() {
        let budget = MemoryBudget::new(100);
        let mut a = budget.try_reserve(60).unwrap();
        assert!(budget.try_reserve(50).is_none());
        a.shrink_to(40);
        let b = budget.try_reserve(50).unwrap();
        assert_eq!(budget.used(), 90);
        assert!(matches!(
            budget.reserve(20, Duration::from_millis(10)),
            Err(DecodeError::MemoryBusy { .. })
        ));
        assert!(matches!(
            budget.reserve(101, Duration::from_secs(10)),
            Err(DecodeError::OverBudget { .. })
        ));
        // A waiter gets its bytes as soon as another holder gives them back.
        let waiter = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || budget.reserve(30, Duration::from_secs(10)).map(|r| r.bytes()))
        };
        std::thread::sleep(Duration::from_millis(20));
        drop(b);
        assert_eq!(waiter.join().unwrap().unwrap(), 30);
        drop(a);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_source_is_weighed_by_its_frame_size() {
        assert_eq!(source_bytes(3840, 2160), 3840 * 2160 * 48);
        assert_eq!(source_bytes_of_pixels(u64::MAX), u64::MAX);
    }
}
