//! `expect_cipher_suites` with `offer_each` end to end: the broker's offers, one
//! connection of the board each, judged from the board's own handshakes while another
//! board (offering nothing AWS IoT Core supports) is refused again and again beside it.

use super::*;

#[test]
fn each_offer_is_judged_by_the_boards_own_handshakes_beside_a_refused_board() {
    let dir = tempfile::tempdir().unwrap();
    let rig = emulated_rig(dir.path());
    let text = std::fs::read_to_string(&rig).unwrap();
    let flawed = text.replace(
        "[boards.dut2]\nkind = \"emulated\"",
        "[boards.dut2]\nkind = \"emulated\"\nflaws = [\"tls12-chacha-only\"]",
    );
    assert_ne!(flawed, text, "the default rig has dut2");
    std::fs::write(&rig, flawed).unwrap();
    let scenario = dir.path().join("offers.toml");
    std::fs::write(
        &scenario,
        r#"name = "offers beside a refused board"
boards = ["dut", "dut2"]

[[step]]
provision = { board = "dut", mode = "preregistered" }

# dut2 offers only TLS 1.2 ChaCha20 suites: every one of its handshakes is refused, for no
# common suite, without a certificate to tell whose it was.
[[step]]
provision = { board = "dut2", mode = "preregistered" }

[[step]]
expect_cipher_suites = { board = "dut", within = "1m", offer_each = true }
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let (code, stdout, stderr) = hil_run(&rig, &out, &scenario);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let timeline = std::fs::read_to_string(out.join("offers/timeline.json")).unwrap();
    assert!(
        timeline.contains(
            "expect_cipher_suites dut: accepts alone: TLS_AES_128_GCM_SHA256, \
             TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, \
             TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384; \
             refuses alone: none"
        ),
        "{timeline}"
    );
    // Each suite offered alone was the one negotiated.
    for suite in [
        "TLS_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ] {
        assert!(
            timeline.contains(&format!(
                "the broker offering {suite} alone: accepted ({suite}, "
            )),
            "{suite}: {timeline}"
        );
    }
}
