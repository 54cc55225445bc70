//! The reference firmware as a Cortex-M3 image (`fut-mps2-an385`, built by
//! `ci/build-qemu-firmware`) under `qemu-system-arm -M mps2-an385`, driven the way the
//! harness's QEMU board kind will drive it: the console on QEMU's serial PTY (opened with
//! `serialport`, like any board's), LEDs read from their register through QMP
//! (`human-monitor-command` `xp`), resets through QMP (`system_reset`), the board's flash
//! and key in its state dir (QEMU's working directory, reached through semihosting).
//!
//! With a NIC (`-nic user,model=lan9118,id=net0`: QEMU's user network, no root) the board
//! gets a DHCP lease, resolves the endpoint through the `hosts` file in its state dir
//! (`10.0.2.2 broker.hil.test`: QEMU forwards 10.0.2.2 to the host's loopback, where the
//! mock broker listens) and connects with TLS and MQTT; QMP `set_link net0 off` is its
//! Wi-Fi going away. The ELF is `$HIL_QEMU_FIRMWARE`, or the path `ci/build-qemu-firmware` prints.

mod console;
mod network;
mod rig;
