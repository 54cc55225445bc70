//! The paged list operations: ListCertificates, ListCertificatesByCA, ListCACertificates,
//! ListPolicies, ListTargetsForPolicy, ListAttachedPolicies, ListThings,
//! ListThingPrincipals and ListPrincipalThings.
//!
//! Each builds its sorted keys and hands them to [`paginate`] (`listing`), which owns the
//! paging. Certificates, CAs and policies run in creation order (newest first unless the
//! request asks for ascending order, as the model's `ascendingOrder` reads), ties broken
//! by id; things, principals and targets run by name.

use super::listing::{Page, PageRequest, paginate};
use super::*;

/// ListThings' filters (`attributeName`, `attributeValue`, `usePrefixAttributeValue`,
/// `thingTypeName`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThingFilter<'a> {
    /// Only things with this attribute.
    pub attribute_name: Option<&'a str>,
    /// ... whose value is this (with `attribute_name`).
    pub attribute_value: Option<&'a str>,
    /// ... or starts with it.
    pub prefix: bool,
    /// Only things of this type: mock-broker has no thing types, so none.
    pub thing_type: Option<&'a str>,
}

impl ThingFilter<'_> {
    fn admits(&self, thing: &Thing) -> bool {
        if self.thing_type.is_some() {
            return false;
        }
        let Some(name) = self.attribute_name else {
            return true;
        };
        match (thing.attributes.get(name), self.attribute_value) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(value), Some(wanted)) if self.prefix => value.starts_with(wanted),
            (Some(value), Some(wanted)) => value == wanted,
        }
    }
}

/// The key of a listing in creation order.
fn by_creation(created_ms: u64, id: &str) -> String {
    format!("{created_ms:020}/{id}")
}

fn sorted<T>(items: impl Iterator<Item = (String, T)>) -> Vec<(String, T)> {
    let mut items: Vec<(String, T)> = items.collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items
}

impl Registry {
    /// ListCertificates.
    pub fn list_certificates(
        &self,
        request: &PageRequest<'_>,
    ) -> Result<Page<&CertRecord>, AwsError> {
        let items = self
            .certificates
            .values()
            .map(|c| (by_creation(c.created_ms, &c.id), c));
        paginate("certificates", sorted(items), request)
    }

    /// ListCertificatesByCA: the device certificates registered with the CA `ca_id` (none
    /// when no such CA is registered: the model has no ResourceNotFoundException here).
    pub fn list_certificates_by_ca(
        &self,
        ca_id: &str,
        request: &PageRequest<'_>,
    ) -> Result<Page<&CertRecord>, AwsError> {
        let items = self
            .certificates
            .values()
            .filter(|c| c.ca_id.as_deref() == Some(ca_id))
            .map(|c| (by_creation(c.created_ms, &c.id), c));
        paginate(
            &format!("certificates-by-ca/{ca_id}"),
            sorted(items),
            request,
        )
    }

    /// ListCACertificates; with a `template_name` filter, none (mock-broker has no named
    /// provisioning templates, only template bodies).
    pub fn list_cas(
        &self,
        template_name: Option<&str>,
        request: &PageRequest<'_>,
    ) -> Result<Page<&CaRecord>, AwsError> {
        let items = self
            .cas
            .values()
            .filter(|_| template_name.is_none())
            .map(|ca| (by_creation(ca.created_ms, &ca.id), ca));
        paginate("cacertificates", sorted(items), request)
    }

    /// ListPolicies.
    pub fn list_policies(
        &self,
        request: &PageRequest<'_>,
    ) -> Result<Page<&PolicyRecord>, AwsError> {
        let items = self
            .policies
            .values()
            .map(|p| (by_creation(p.created_ms, &p.name), p));
        paginate("policies", sorted(items), request)
    }

    /// ListTargetsForPolicy: the ARNs the policy is attached to.
    pub fn list_targets_for_policy(
        &self,
        policy: &str,
        request: &PageRequest<'_>,
    ) -> Result<Page<String>, AwsError> {
        self.policy(policy)?;
        let items = self
            .policy_targets
            .get(policy)
            .into_iter()
            .flatten()
            .map(|arn| (arn.clone(), arn.clone()));
        paginate(&format!("policy-targets/{policy}"), sorted(items), request)
    }

    /// ListAttachedPolicies: the policies attached to a target ARN.
    pub fn list_attached_policies(
        &self,
        target: &str,
        request: &PageRequest<'_>,
    ) -> Result<Page<&PolicyRecord>, AwsError> {
        let items = self
            .attached_policies(target)
            .into_iter()
            .map(|p| (p.name.clone(), p));
        paginate(
            &format!("attached-policies/{target}"),
            sorted(items),
            request,
        )
    }

    /// ListThings.
    pub fn list_things(
        &self,
        filter: &ThingFilter<'_>,
        request: &PageRequest<'_>,
    ) -> Result<Page<&Thing>, AwsError> {
        let items = self
            .things
            .values()
            .filter(|t| filter.admits(t))
            .map(|t| (t.name.clone(), t));
        paginate("things", sorted(items), request)
    }

    /// ListThingPrincipals.
    pub fn list_thing_principals(
        &self,
        thing: &str,
        request: &PageRequest<'_>,
    ) -> Result<Page<String>, AwsError> {
        let principals = self.thing_principals(thing)?;
        let items = principals.into_iter().map(|arn| (arn.clone(), arn));
        paginate(&format!("thing-principals/{thing}"), sorted(items), request)
    }

    /// ListPrincipalThings: the things a certificate ARN is attached to.
    pub fn list_principal_things(
        &self,
        principal: &str,
        request: &PageRequest<'_>,
    ) -> Result<Page<String>, AwsError> {
        self.principal_exists(principal)?;
        let items = self
            .thing_principals
            .iter()
            .filter(|(_, principals)| principals.contains(principal))
            .map(|(thing, _)| (thing.clone(), thing.clone()));
        paginate(
            &format!("principal-things/{principal}"),
            sorted(items),
            request,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::registry::test_helpers::{NOW, registry, with_ca};

    fn request(size: usize) -> PageRequest<'static> {
        PageRequest {
            size,
            ..PageRequest::default()
        }
    }

    #[test]
    fn certificates_run_newest_first_unless_ascending() {
        let (mut reg, ca, ca_id) = with_ca();
        let mut ids = Vec::new();
        for (i, serial) in ["01", "02", "03"].into_iter().enumerate() {
            let device = ca.device(serial).unwrap();
            let now = NOW + i as u64;
            let record = reg
                .register_certificate(&device.cert_pem, None, CertificateStatus::Active, now)
                .unwrap();
            ids.push(record.id.clone());
        }
        let descending = PageRequest {
            ascending: false,
            ..request(10)
        };
        let newest_first: Vec<&str> = reg
            .list_certificates(&descending)
            .unwrap()
            .items
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(newest_first, [&ids[2], &ids[1], &ids[0]]);
        let ascending = PageRequest {
            ascending: true,
            ..request(2)
        };
        let page = reg.list_certificates_by_ca(&ca_id, &ascending).unwrap();
        assert_eq!(page.items[0].id, ids[0]);
        assert_eq!(page.items[1].id, ids[1]);
        let rest = PageRequest {
            token: page.next.as_deref(),
            ..ascending
        };
        let last = reg.list_certificates_by_ca(&ca_id, &rest).unwrap();
        assert_eq!(last.items.len(), 1);
        assert_eq!(last.items[0].id, ids[2]);
        assert_eq!(last.next, None);
        // A token of ListCertificatesByCA is not one of ListCertificates.
        assert_eq!(
            reg.list_certificates(&rest).unwrap_err().kind,
            AwsErrorKind::InvalidRequest
        );
        let other_ca = "0".repeat(64);
        assert!(
            reg.list_certificates_by_ca(&other_ca, &request(5))
                .unwrap()
                .items
                .is_empty()
        );
    }

    #[test]
    fn things_filter_by_attribute() {
        let mut reg = registry();
        let attrs = |v: &str| BTreeMap::from([("site".to_owned(), v.to_owned())]);
        reg.create_thing("a", attrs("lab-1")).unwrap();
        reg.create_thing("b", attrs("lab-2")).unwrap();
        reg.create_thing("c", BTreeMap::new()).unwrap();
        let names = |filter: ThingFilter<'_>| -> Vec<String> {
            reg.list_things(&filter, &request(10))
                .unwrap()
                .items
                .iter()
                .map(|t| t.name.clone())
                .collect()
        };
        assert_eq!(names(ThingFilter::default()), ["a", "b", "c"]);
        let site = ThingFilter {
            attribute_name: Some("site"),
            ..ThingFilter::default()
        };
        assert_eq!(names(site), ["a", "b"]);
        let exact = ThingFilter {
            attribute_value: Some("lab-2"),
            ..site
        };
        assert_eq!(names(exact), ["b"]);
        let prefix = ThingFilter {
            attribute_value: Some("lab"),
            prefix: true,
            ..site
        };
        assert_eq!(names(prefix), ["a", "b"]);
        let typed = ThingFilter {
            thing_type: Some("sensor"),
            ..ThingFilter::default()
        };
        assert!(names(typed).is_empty());
    }

    #[test]
    fn principals_and_targets_are_listed_both_ways() {
        let (mut reg, ca, _) = with_ca();
        let device = ca.device("04").unwrap();
        let id = reg
            .register_certificate(&device.cert_pem, None, CertificateStatus::Active, NOW)
            .unwrap()
            .id
            .clone();
        let arn = reg.arn("cert", &id);
        for thing in ["t2", "t1", "t3"] {
            reg.create_thing(thing, BTreeMap::new()).unwrap();
            reg.attach_thing_principal(thing, &arn).unwrap();
        }
        let page = reg.list_principal_things(&arn, &request(2)).unwrap();
        assert_eq!(page.items, ["t1", "t2"]);
        let token = page.next.unwrap();
        let rest = PageRequest {
            token: Some(&token),
            ..request(2)
        };
        assert_eq!(
            reg.list_principal_things(&arn, &rest).unwrap().items,
            ["t3"]
        );
        assert_eq!(
            reg.list_thing_principals("t1", &request(1)).unwrap(),
            Page {
                items: vec![arn.clone()],
                next: None
            }
        );
        reg.create_policy(
            "p",
            r#"{"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#,
            NOW,
        )
        .unwrap();
        reg.attach_policy("p", &arn).unwrap();
        assert_eq!(
            reg.list_targets_for_policy("p", &request(5)).unwrap().items,
            vec![arn.clone()]
        );
        assert_eq!(
            reg.list_targets_for_policy("nope", &request(5))
                .unwrap_err()
                .kind,
            AwsErrorKind::ResourceNotFound
        );
        assert_eq!(
            reg.list_thing_principals("nope", &request(5))
                .unwrap_err()
                .kind,
            AwsErrorKind::ResourceNotFound
        );
        let unknown = reg.arn("cert", &"1".repeat(64));
        assert_eq!(
            reg.list_principal_things(&unknown, &request(5))
                .unwrap_err()
                .kind,
            AwsErrorKind::ResourceNotFound
        );
    }
}
