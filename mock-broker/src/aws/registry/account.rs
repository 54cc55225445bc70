//! The checks of the account the broker is started as: a 12-digit account id and a
//! region-shaped name ([`Account::check_id`], [`Account::check_region`]); and
//! DeleteRegistrationCode.
//!
//! The account itself ([`Account`]) is in `records`; `mock-broker serve --region
//! --account-id` checks its options with these before the control plane starts.

use super::Registry;
use super::records::Account;

/// An account id or region the broker cannot be started with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The account id is not 12 digits; AWS account ids are, e.g. `123456789012`.
    #[error("account id {0:?} is not 12 digits (e.g. 123456789012)")]
    AccountId(String),
    /// The region is not shaped like one: `<area>[-gov|-iso...]-<direction>-<number>`,
    /// lowercase, e.g. `us-east-1`, `eu-central-2`, `us-gov-west-1`.
    #[error("region {0:?} is not a region name such as us-east-1, eu-central-2 or us-gov-west-1")]
    Region(String),
}

impl Account {
    /// Checks an account id: exactly 12 ASCII digits.
    pub fn check_id(id: &str) -> Result<(), AccountError> {
        if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
            Ok(())
        } else {
            Err(AccountError::AccountId(id.to_owned()))
        }
    }

    /// Checks a region name: two lowercase letters, an optional partition word (`gov`,
    /// `iso`, `isob`, ...), a lowercase direction word, and a number, joined by `-`.
    pub fn check_region(region: &str) -> Result<(), AccountError> {
        let refused = || AccountError::Region(region.to_owned());
        let parts: Vec<&str> = region.split('-').collect();
        let (area, middle, number) = match parts.as_slice() {
            [area, direction, number] => (*area, vec![*direction], *number),
            [area, partition, direction, number] => (*area, vec![*partition, *direction], *number),
            _ => return Err(refused()),
        };
        let lowercase = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
        let shaped = area.len() == 2
            && lowercase(area)
            && middle.iter().all(|word| lowercase(word))
            && !number.is_empty()
            && number.len() <= 2
            && number.bytes().all(|b| b.is_ascii_digit());
        if shaped { Ok(()) } else { Err(refused()) }
    }
}

impl Registry {
    /// DeleteRegistrationCode: a fresh code replaces the account's (64 hex digits, like
    /// AWS's); CAs registered with the old one stay registered.
    pub fn delete_registration_code(&mut self) {
        self.account.registration_code = hex::encode(rand::random::<[u8; 32]>());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_registration_code_is_replaced() {
        let mut reg = crate::aws::registry::test_helpers::registry();
        let old = reg.account.registration_code.clone();
        reg.delete_registration_code();
        let new = &reg.account.registration_code;
        assert_ne!(new, &old);
        assert_eq!(new.len(), 64);
        assert!(new.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn policies_match_the_arns_of_the_registrys_region_and_account() {
        use crate::aws::policy::{Variables, evaluate};
        let document = r#"{"Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-2:210987654321:topic/east/*"}]}"#;
        let verdict = |region: &str, account: &str| {
            let mut reg = crate::aws::registry::test_helpers::registry();
            reg.account.region = region.to_owned();
            reg.account.id = account.to_owned();
            reg.create_policy("p", document, 0).unwrap();
            let policy = reg.policy("p").unwrap().parsed.clone().unwrap();
            let vars = Variables {
                client_id: "c",
                thing_name: None,
            };
            evaluate(
                [("p", &policy)],
                "iot:Publish",
                &reg.arn("topic", "east/data"),
                vars,
            )
            .allowed()
        };
        assert!(verdict("us-east-2", "210987654321"));
        assert!(!verdict("us-east-1", "210987654321"));
        assert!(!verdict("us-east-2", "123456789012"));
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert_eq!(Account::check_id("123456789012"), Ok(()));
        for bad in [
            "12345678901",
            "1234567890123",
            "12345678901a",
            "",
            "１２３４５６７８９０１２",
        ] {
            assert_eq!(
                Account::check_id(bad),
                Err(AccountError::AccountId(bad.to_owned()))
            );
        }
    }

    #[test]
    fn regions_are_region_shaped() {
        for good in [
            "us-east-1",
            "us-east-2",
            "eu-central-2",
            "ap-southeast-4",
            "us-gov-west-1",
            "cn-northwest-1",
            "us-isob-east-1",
        ] {
            assert_eq!(Account::check_region(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "useast1",
            "us-east-1a",
            "us_east_1",
            "usa-east-1",
            "us-east-100",
            "us--1",
            "us-gov-west-east-1",
        ] {
            assert_eq!(
                Account::check_region(bad),
                Err(AccountError::Region(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
