//! The heap: 1 MiB of SSRAM2/3 for `alloc`, used by the crypto (DER, PEM) and the NVM's
//! JSON. The core itself never allocates; the board lives here so its 20 KiB of buffers
//! are not on the stack.

use core::mem::MaybeUninit;
use embedded_alloc::LlffHeap;

/// Heap size.
const HEAP_SIZE: usize = 1024 * 1024;

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

/// Hands the heap its memory; call once, first thing.
pub fn init() {
    static mut MEMORY: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];
    // SAFETY: called once at start-up, before any allocation; MEMORY is used only here.
    unsafe { HEAP.init(&raw mut MEMORY as usize, HEAP_SIZE) }
}
