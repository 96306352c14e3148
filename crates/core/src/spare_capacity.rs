//! Writing a vector's spare capacity from bytes without zero-filling it first: the storage a
//! tensor is decoded into is usually cold memory, so each byte is written once.

/// Copies `bytes` into the spare capacity of `values`, starting `offset` bytes past its start,
/// without zero-filling first (the storage a tensor is decoded into is usually cold memory).
/// The caller sets the length once every element has been written.
///
/// Panics when the bytes would run past the capacity.
pub(crate) fn copy_into_spare<T: bytemuck::Pod>(values: &mut Vec<T>, offset: usize, bytes: &[u8]) {
    let capacity_bytes = values.capacity() * std::mem::size_of::<T>();
    assert!(
        offset
            .checked_add(bytes.len())
            .is_some_and(|end| end <= capacity_bytes),
        "bytes stay inside the allocated capacity"
    );
    // SAFETY: the range `offset..offset + bytes.len()` lies inside the allocation (asserted
    // above) and cannot overlap `bytes`, which this function does not own.
    unsafe {
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            values.as_mut_ptr().cast::<u8>().add(offset),
            bytes.len(),
        );
    };
}

/// Marks the first `byte_len` bytes of a vector's capacity, all written by
/// [`copy_into_spare`], as its elements.
///
/// Panics when `byte_len` is not a whole number of elements inside the capacity.
pub(crate) fn set_written_length<T: bytemuck::Pod>(values: &mut Vec<T>, byte_len: usize) {
    let size = std::mem::size_of::<T>();
    let count = byte_len / size;
    assert!(
        byte_len.is_multiple_of(size) && count <= values.capacity(),
        "whole elements inside the allocated capacity"
    );
    // SAFETY: the caller wrote these `byte_len` bytes through `copy_into_spare`, so the first
    // `count` elements are initialised, and any bit pattern is a valid `T` (`Pod`).
    unsafe { values.set_len(count) };
}
