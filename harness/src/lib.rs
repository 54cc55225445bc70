//! HIL harness library.
#![deny(missing_docs)]
