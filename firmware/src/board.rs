//! The hardware boundary. The application sees an embedded-hal [`DelayNs`] (pacing between
//! frames), a [`SampleSource`] (the sensor) and a [`ResultSink`] (where results go); a real
//! board implements them over its timer, ADC/camera and UART. [`qemu`] implements them for the
//! MPS2 boards under QEMU: recorded frames from flash, results to host files by semihosting.

pub use embedded_hal::delay::DelayNs;

/// A sensor that fills one input frame at a time (the model's raw input tensor bytes).
pub trait SampleSource {
    /// Fill `frame` with the next sample; `false` when there are no more.
    fn next_frame(&mut self, frame: &mut [u8]) -> bool;
}

/// Where a finished inference goes.
pub trait ResultSink {
    /// The raw bytes of the model's output tensor.
    fn output(&mut self, bytes: &[u8]);
    /// One `key=value` figure (stack, kernel path, ...).
    fn figure(&mut self, key: &str, value: &str);
}

/// Stop: QEMU exits with status 0 or 1 through semihosting.
pub fn exit(success: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::bkpt();
    }
}

/// The QEMU MPS2 boards (AN386 Cortex-M4, AN500 Cortex-M7, AN505 Cortex-M33).
pub mod qemu {
    use super::{DelayNs, ResultSink, SampleSource};
    use cortex_m_semihosting::{nr, syscall};

    /// A host file opened through semihosting (`name` ends with a NUL).
    struct HostFile(usize);

    impl HostFile {
        fn create(name: &str, mode: usize) -> Option<HostFile> {
            // SAFETY: SYS_OPEN reads `len` bytes of the NUL-terminated name.
            let fd = unsafe { syscall!(OPEN, name.as_ptr(), mode, name.len() - 1) };
            (fd as isize >= 0).then_some(HostFile(fd))
        }
        fn write_all(&mut self, bytes: &[u8]) {
            // SAFETY: SYS_WRITE reads `len` bytes from the pointer.
            unsafe { syscall!(WRITE, self.0, bytes.as_ptr(), bytes.len()) };
        }
    }

    impl Drop for HostFile {
        fn drop(&mut self) {
            // SAFETY: closes a handle this value owns.
            unsafe { syscall!(CLOSE, self.0) };
        }
    }

    /// Recorded frames, back to back, replayed in order.
    pub struct Recorded {
        frames: &'static [u8],
        next: usize,
    }

    impl Recorded {
        /// Replay `frames` (a whole number of frames).
        pub fn new(frames: &'static [u8]) -> Recorded {
            Recorded { frames, next: 0 }
        }
    }

    impl SampleSource for Recorded {
        fn next_frame(&mut self, frame: &mut [u8]) -> bool {
            let end = self.next + frame.len();
            if frame.is_empty() || end > self.frames.len() {
                return false;
            }
            frame.copy_from_slice(&self.frames[self.next..end]);
            self.next = end;
            true
        }
    }

    /// Busy-wait delay; QEMU's clock has no meaning for instruction counts, so this spins
    /// `ns / 40` iterations (25 MHz, like the MPS2 FPGA).
    pub struct SpinDelay;

    impl DelayNs for SpinDelay {
        fn delay_ns(&mut self, ns: u32) {
            cortex_m::asm::delay(ns / 40);
        }
    }

    /// Host files through semihosting: `mote-output.bin` (output bytes) and `mote-figures.txt`.
    pub struct HostFiles {
        figures: Option<HostFile>,
    }

    impl HostFiles {
        /// Open the figures file (results are optional: without a debugger they are dropped).
        pub fn new() -> HostFiles {
            HostFiles {
                figures: HostFile::create("mote-figures.txt\0", nr::open::W_TRUNC),
            }
        }
    }

    impl Default for HostFiles {
        fn default() -> Self {
            Self::new()
        }
    }

    impl ResultSink for HostFiles {
        fn output(&mut self, bytes: &[u8]) {
            if let Some(mut f) = HostFile::create("mote-output.bin\0", nr::open::W_TRUNC_BINARY) {
                f.write_all(bytes);
            }
        }
        fn figure(&mut self, key: &str, value: &str) {
            if let Some(f) = &mut self.figures {
                for part in [key, "=", value, "\n"] {
                    f.write_all(part.as_bytes());
                }
            }
        }
    }
}
