//! Buffers kept per thread and reused from one image to the next: the decoded frame, the resized
//! one and the model's input tensor. The server maps every large block on its own and unmaps it
//! when freed (`memory.malloc_mmap_threshold_bytes`), so a fresh buffer per request costs a page
//! fault and a zeroed page for every 4 KiB, and the unmapping interrupts the other inference
//! threads to flush their TLBs; a kept buffer costs none of that. A thread keeps at most
//! [`KEPT_BUFFERS_PER_TYPE`] buffers of each element type and [`KEPT_BYTES_PER_THREAD`] in all;
//! larger or further ones are freed as usual, so an occasional huge frame does not stay
//! resident.

use std::cell::{Cell, RefCell};
use std::thread::LocalKey;

/// Most bytes of buffers one thread keeps (a 1280x720 frame decoded at 1/2, its 224x224 resize
/// and the f32 tensor made from it take 1.4 MiB).
pub(crate) const KEPT_BYTES_PER_THREAD: usize = 4 * 1024 * 1024;

/// Most buffers of one element type a thread keeps (bytes: the decoded frame and the resized
/// one).
pub(crate) const KEPT_BUFFERS_PER_TYPE: usize = 2;

thread_local! {
    /// Bytes this thread keeps, over all element types.
    static KEPT_BYTES: Cell<usize> = const { Cell::new(0) };
}

/// An element type whose buffers are kept: pixels and tensor values.
pub(crate) trait Element: Copy + Default + 'static {
    /// This thread's kept buffers of this type.
    fn kept() -> &'static LocalKey<RefCell<Vec<Vec<Self>>>>;
}

macro_rules! kept_element {
    ($element:ty, $name:ident) => {
        thread_local! {
            static $name: RefCell<Vec<Vec<$element>>> = const { RefCell::new(Vec::new()) };
        }
        impl Element for $element {
            fn kept() -> &'static LocalKey<RefCell<Vec<Vec<$element>>>> {
                &$name
            }
        }
    };
}

kept_element!(u8, KEPT_U8);
kept_element!(i8, KEPT_I8);
kept_element!(f32, KEPT_F32);

fn bytes_of<T>(buffer: &Vec<T>) -> usize {
    buffer.capacity() * std::mem::size_of::<T>()
}

/// A buffer of `len` elements, one this thread kept when one is large enough. Its contents are
/// unspecified (initialised, but possibly an earlier image's): callers overwrite every element.
pub(crate) fn buffer<T: Element>(len: usize) -> Vec<T> {
    let kept = T::kept().with(|kept| {
        let mut kept = kept.borrow_mut();
        // The smallest buffer that fits, so a small request does not take the large one.
        let fitting = (0..kept.len())
            .filter(|&at| kept[at].capacity() >= len)
            .min_by_key(|&at| kept[at].capacity())?;
        let buffer = kept.swap_remove(fitting);
        KEPT_BYTES.with(|bytes| bytes.set(bytes.get() - bytes_of(&buffer)));
        Some(buffer)
    });
    match kept {
        Some(mut buffer) => {
            if buffer.len() >= len {
                buffer.truncate(len);
            } else {
                buffer.resize(len, T::default());
            }
            buffer
        }
        None => vec![T::default(); len],
    }
}

/// Gives `buffer` back for this thread's next image. It is kept when that stays within
/// [`KEPT_BUFFERS_PER_TYPE`] and [`KEPT_BYTES_PER_THREAD`] (a smaller kept one of its type gives
/// way if need be), else freed.
pub(crate) fn recycle<T: Element>(buffer: Vec<T>) {
    let size = bytes_of(&buffer);
    if size == 0 || size > KEPT_BYTES_PER_THREAD {
        return;
    }
    // A thread being torn down has no kept buffers any more; the buffer is then simply freed.
    let _ = T::kept().try_with(|kept| {
        let mut kept = kept.borrow_mut();
        // When the thread keeps its most buffers of the type already, the smallest gives way to
        // a larger one: the larger a buffer, the more a fresh one costs.
        let replaced = if kept.len() < KEPT_BUFFERS_PER_TYPE {
            None
        } else {
            match (0..kept.len()).min_by_key(|&at| kept[at].capacity()) {
                Some(at) if kept[at].capacity() < buffer.capacity() => Some(at),
                _ => return,
            }
        };
        let freed = replaced.map_or(0, |at| bytes_of(&kept[at]));
        KEPT_BYTES.with(|total| {
            if total.get() - freed + size <= KEPT_BYTES_PER_THREAD {
                if let Some(at) = replaced {
                    kept.swap_remove(at);
                }
                kept.push(buffer);
                total.set(total.get() - freed + size);
            }
        });
    });
}

/// Bytes this thread keeps now.
#[cfg(test)]
pub(crate) fn kept_bytes() -> usize {
    KEPT_BYTES.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_buffer_is_handed_out_again_without_a_new_allocation() {
        let first = buffer::<u8>(1000);
        let address = first.as_ptr();
        recycle(first);
        let again = buffer::<u8>(800);
        assert_eq!(again.as_ptr(), address);
        assert_eq!(again.len(), 800);
        recycle(again);
        let grown = buffer::<u8>(1000);
        assert_eq!(
            grown.len(),
            1000,
            "a truncated buffer grows back to the length asked"
        );
        recycle(grown);
    }

    #[test]
    fn the_smallest_fitting_buffer_of_the_type_is_taken() {
        recycle(vec![0u8; 5000]);
        recycle(vec![0u8; 500]);
        recycle(vec![0f32; 100]);
        let small = buffer::<u8>(400);
        assert!(small.capacity() < 5000);
        let large = buffer::<u8>(4000);
        assert!(large.capacity() >= 5000);
        let values = buffer::<f32>(100);
        assert_eq!(values.capacity(), 100);
        recycle(small);
        recycle(large);
        recycle(values);
    }

    #[test]
    fn what_a_thread_keeps_is_bounded_in_bytes_and_count() {
        std::thread::spawn(|| {
            recycle(vec![0u8; KEPT_BYTES_PER_THREAD + 1]);
            assert_eq!(kept_bytes(), 0, "a buffer over the bound is freed");
            for _ in 0..5 {
                recycle(vec![0u8; 1000]);
            }
            assert_eq!(kept_bytes(), 2000, "at most two buffers of a type");
            recycle(vec![0u8; 3000]);
            assert_eq!(kept_bytes(), 4000, "a larger one replaces the smallest");
            recycle(vec![0f32; 250]);
            assert_eq!(
                kept_bytes(),
                5000,
                "other types count towards the same bound"
            );
            recycle(vec![0u8; KEPT_BYTES_PER_THREAD - 3000]);
            assert_eq!(
                kept_bytes(),
                5000,
                "one that would pass the byte bound is freed"
            );
            recycle(vec![0u8; KEPT_BYTES_PER_THREAD - 4000]);
            assert_eq!(
                kept_bytes(),
                KEPT_BYTES_PER_THREAD,
                "it fits once the smallest goes"
            );
            let taken = buffer::<u8>(10);
            assert_eq!(kept_bytes(), KEPT_BYTES_PER_THREAD - 3000);
            drop(taken);
        })
        .join()
        .unwrap();
    }
}
