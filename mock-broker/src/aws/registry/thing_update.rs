//! Changing things: UpdateThing (attributes, merged or replaced, and the version check),
//! DeleteThing's `expectedVersion`, and the checks of attribute names and values.
//!
//! As AWS documents, an attribute given with an empty value (or `null`) is removed;
//! without `merge` the given attributes replace the stored ones; every successful update
//! bumps the thing's version, and an `expectedVersion` that is not the current version is a
//! `VersionConflictException` (409). mock-broker has no thing types, so naming one is a
//! `ResourceNotFoundException`.

use super::*;

/// UpdateThing's `attributePayload`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeUpdate {
    /// Names to values; `None` or an empty value removes the attribute.
    pub attributes: BTreeMap<String, Option<String>>,
    /// Merge into the stored attributes instead of replacing them.
    pub merge: bool,
}

/// The model's attribute name pattern, `[a-zA-Z0-9_.,@/:#-]+`, at most 128 characters.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.,@/:#-".contains(c))
}

/// The model's attribute value pattern, `[a-zA-Z0-9_.,@/:#=\[\]-]*`, at most 800.
fn valid_value(value: &str) -> bool {
    value.len() <= 800
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.,@/:#=[]-".contains(c))
}

impl Registry {
    /// Checks attribute names and values against the model's patterns (CreateThing,
    /// UpdateThing); an empty value is allowed (UpdateThing reads it as a removal).
    pub fn check_attributes<'a>(
        names_and_values: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), AwsError> {
        for (name, value) in names_and_values {
            if !valid_name(name) {
                return Err(invalid(format!("invalid attribute name {name:?}")));
            }
            if !valid_value(value) {
                return Err(invalid(format!(
                    "invalid value {value:?} of attribute {name:?}"
                )));
            }
        }
        Ok(())
    }

    /// The `expectedVersion` check of UpdateThing and DeleteThing.
    pub fn check_thing_version(&self, name: &str, expected: Option<u64>) -> Result<(), AwsError> {
        let version = self.thing(name)?.version;
        match expected {
            Some(expected) if expected != version => Err(AwsError::new(
                AwsErrorKind::VersionConflict,
                format!("thing {name} is at version {version}, not the expected {expected}"),
            )),
            _ => Ok(()),
        }
    }

    /// UpdateThing; returns the updated thing.
    pub fn update_thing(
        &mut self,
        name: &str,
        update: Option<&AttributeUpdate>,
        thing_type: Option<&str>,
        expected_version: Option<u64>,
    ) -> Result<&Thing, AwsError> {
        self.check_thing_version(name, expected_version)?;
        if let Some(thing_type) = thing_type {
            return Err(not_found(format!(
                "thing type {thing_type} does not exist (mock-broker has no thing types)"
            )));
        }
        if let Some(update) = update {
            Self::check_attributes(
                update
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_deref().unwrap_or(""))),
            )?;
        }
        let thing = self
            .things
            .get_mut(name)
            .ok_or_else(|| not_found(format!("thing {name} does not exist")))?;
        if let Some(update) = update {
            if !update.merge {
                thing.attributes.clear();
            }
            for (key, value) in &update.attributes {
                match value.as_deref() {
                    None | Some("") => thing.attributes.remove(key),
                    Some(value) => thing.attributes.insert(key.clone(), value.to_owned()),
                };
            }
        }
        thing.version += 1;
        Ok(thing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::registry::test_helpers::registry;

    fn attrs(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_owned)))
            .collect()
    }

    fn stored(reg: &Registry) -> Vec<(String, String)> {
        reg.thing("t")
            .unwrap()
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn with_thing() -> Registry {
        let mut reg = registry();
        let initial = BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ]);
        reg.create_thing("t", initial).unwrap();
        reg
    }

    #[test]
    fn merge_adds_changes_and_removes_empty_or_null_values() {
        let mut reg = with_thing();
        let update = AttributeUpdate {
            attributes: attrs(&[("a", Some("9")), ("b", Some("")), ("c", Some("3"))]),
            merge: true,
        };
        let thing = reg.update_thing("t", Some(&update), None, Some(1)).unwrap();
        assert_eq!(thing.version, 2);
        assert_eq!(
            stored(&reg),
            [("a".into(), "9".into()), ("c".into(), "3".into())]
        );
        let remove = AttributeUpdate {
            attributes: attrs(&[("a", None)]),
            merge: true,
        };
        reg.update_thing("t", Some(&remove), None, None).unwrap();
        assert_eq!(stored(&reg), [("c".into(), "3".into())]);
        assert_eq!(reg.thing("t").unwrap().version, 3);
    }

    #[test]
    fn without_merge_the_attributes_are_replaced() {
        let mut reg = with_thing();
        let update = AttributeUpdate {
            attributes: attrs(&[("z", Some("26"))]),
            merge: false,
        };
        reg.update_thing("t", Some(&update), None, None).unwrap();
        assert_eq!(stored(&reg), [("z".into(), "26".into())]);
    }

    #[test]
    fn a_stale_expected_version_is_a_conflict_and_changes_nothing() {
        let mut reg = with_thing();
        let update = AttributeUpdate {
            attributes: attrs(&[("a", Some("x"))]),
            merge: true,
        };
        let refused = reg
            .update_thing("t", Some(&update), None, Some(7))
            .unwrap_err();
        assert_eq!(refused.kind, AwsErrorKind::VersionConflict);
        assert_eq!(refused.http_status(), 409);
        assert_eq!(refused.name(), "VersionConflictException");
        assert_eq!(reg.thing("t").unwrap().version, 1);
        assert_eq!(stored(&reg)[0], ("a".into(), "1".into()));
        assert_eq!(
            reg.check_thing_version("t", Some(2)).unwrap_err().kind,
            AwsErrorKind::VersionConflict
        );
        assert!(reg.check_thing_version("t", Some(1)).is_ok());
    }

    #[test]
    fn bad_attributes_thing_types_and_missing_things_are_refused() {
        let mut reg = with_thing();
        for bad in [
            ("has space", Some("v")),
            ("ok", Some("has space")),
            ("", Some("v")),
        ] {
            let update = AttributeUpdate {
                attributes: attrs(&[bad]),
                merge: true,
            };
            let refused = reg
                .update_thing("t", Some(&update), None, None)
                .unwrap_err();
            assert_eq!(refused.kind, AwsErrorKind::InvalidRequest, "{bad:?}");
        }
        assert_eq!(
            reg.update_thing("t", None, Some("sensor"), None)
                .unwrap_err()
                .kind,
            AwsErrorKind::ResourceNotFound
        );
        assert_eq!(
            reg.update_thing("nope", None, None, None).unwrap_err().kind,
            AwsErrorKind::ResourceNotFound
        );
        assert_eq!(reg.thing("t").unwrap().version, 1);
    }
}
