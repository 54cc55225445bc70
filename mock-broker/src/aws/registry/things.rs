//! Things and their principals: CreateThing, DescribeThing, ListThings, DeleteThing,
//! AttachThingPrincipal, DetachThingPrincipal, ListThingPrincipals.

use super::*;

impl Registry {
    /// CreateThing (idempotent for the same attributes).
    pub fn create_thing(
        &mut self,
        name: &str,
        attributes: BTreeMap<String, String>,
    ) -> Result<&Thing, AwsError> {
        if name.is_empty()
            || name.len() > 128
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ":_-".contains(c))
        {
            return Err(invalid(format!("invalid thing name {name:?}")));
        }
        if let Some(existing) = self.things.get(name) {
            if existing.attributes == attributes {
                return self.thing(name);
            }
            return Err(self.exists("thing", name));
        }
        let thing = Thing {
            name: name.to_owned(),
            id: hex::encode(&sha2_digest(name.as_bytes())[..16]),
            attributes,
            version: 1,
        };
        Ok(self.things.entry(name.to_owned()).or_insert(thing))
    }

    /// DescribeThing.
    pub fn thing(&self, name: &str) -> Result<&Thing, AwsError> {
        self.things
            .get(name)
            .ok_or_else(|| not_found(format!("thing {name} does not exist")))
    }

    /// ListThings.
    pub fn things(&self) -> impl Iterator<Item = &Thing> {
        self.things.values()
    }

    /// DeleteThing: principals must be detached first.
    pub fn delete_thing(&mut self, name: &str) -> Result<(), AwsError> {
        self.thing(name)?;
        if self
            .thing_principals
            .get(name)
            .is_some_and(|p| !p.is_empty())
        {
            return Err(invalid("detach the thing's principals before deleting it"));
        }
        self.things.remove(name);
        self.thing_principals.remove(name);
        Ok(())
    }

    /// AttachThingPrincipal.
    pub fn attach_thing_principal(&mut self, thing: &str, principal: &str) -> Result<(), AwsError> {
        self.thing(thing)?;
        self.principal_exists(principal)?;
        self.thing_principals
            .entry(thing.to_owned())
            .or_default()
            .insert(principal.to_owned());
        Ok(())
    }

    /// DetachThingPrincipal.
    pub fn detach_thing_principal(&mut self, thing: &str, principal: &str) -> Result<(), AwsError> {
        self.thing(thing)?;
        if let Some(principals) = self.thing_principals.get_mut(thing) {
            principals.remove(principal);
        }
        Ok(())
    }

    /// ListThingPrincipals.
    pub fn thing_principals(&self, thing: &str) -> Result<Vec<String>, AwsError> {
        self.thing(thing)?;
        Ok(self
            .thing_principals
            .get(thing)
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default())
    }

    /// Is `thing` attached to the certificate `certificate_id`?
    pub fn is_attached(&self, thing: &str, certificate_id: &str) -> bool {
        let arn = self.arn("cert", certificate_id);
        self.thing_principals
            .get(thing)
            .is_some_and(|p| p.contains(&arn))
    }
}
