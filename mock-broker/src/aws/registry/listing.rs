//! Paging of every list operation, in one place: [`paginate`] cuts one [`Page`] out of a
//! listing sorted by a unique key, as a [`PageRequest`] asks.
//!
//! AWS IoT pages its lists two ways, and both are this one function: the certificate and
//! policy lists take `marker`/`pageSize` and answer `nextMarker`; the thing lists take
//! `nextToken`/`maxResults` and answer `nextToken`. Which query members carry the request
//! is the admin API's business (`admin_api::params`); the list operations themselves, which
//! build the sorted keys, are in `lists`.
//!
//! A token is the hex of `<listing>|<order>|<key of the last item sent>`, so the next page
//! starts after that key even when items were added or removed in between, and a token from
//! another listing, another order, or no listing at all is an `InvalidRequestException`.
//! A page never holds more than asked, and the last page carries no token.

use super::error::{AwsError, invalid};

/// The page size when the request gives none: ListCertificates and ListCACertificates
/// document 25; the other lists use the same (choice).
pub const DEFAULT_PAGE_SIZE: usize = 25;

/// The largest page size the model allows (`PageSize`, `RegistryMaxResults`: 1..=250).
pub const MAX_PAGE_SIZE: usize = 250;

/// What a list request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<'a> {
    /// The `marker`/`nextToken` of the previous page; `None` for the first page.
    pub token: Option<&'a str>,
    /// At most this many items (1..=[`MAX_PAGE_SIZE`]).
    pub size: usize,
    /// Ascending key order; `false` runs the listing backwards.
    pub ascending: bool,
}

impl Default for PageRequest<'_> {
    /// The first page, of [`DEFAULT_PAGE_SIZE`] items, ascending.
    fn default() -> Self {
        PageRequest {
            token: None,
            size: DEFAULT_PAGE_SIZE,
            ascending: true,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in the listing's order.
    pub items: Vec<T>,
    /// The token of the next page; `None` on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// The same page with every item mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// Cuts the page `request` asks for out of `items`, `(key, item)` pairs whose keys are
/// unique and sorted ascending. `listing` names the listing (and its scope, e.g. the thing
/// whose principals are listed), so its tokens are refused elsewhere.
pub fn paginate<T>(
    listing: &str,
    items: Vec<(String, T)>,
    request: &PageRequest<'_>,
) -> Result<Page<T>, AwsError> {
    if !(1..=MAX_PAGE_SIZE).contains(&request.size) {
        return Err(invalid(format!(
            "the page size must be between 1 and {MAX_PAGE_SIZE}, got {}",
            request.size
        )));
    }
    debug_assert!(items.windows(2).all(|w| w[0].0 < w[1].0), "keys sorted");
    let order = if request.ascending { "asc" } else { "desc" };
    let after = request
        .token
        .map(|token| decode(token, listing, order))
        .transpose()?;
    let ordered: Box<dyn Iterator<Item = (String, T)>> = if request.ascending {
        Box::new(items.into_iter())
    } else {
        Box::new(items.into_iter().rev())
    };
    let mut rest = ordered.filter(|(key, _)| match &after {
        None => true,
        Some(after) if request.ascending => key > after,
        Some(after) => key < after,
    });
    let page: Vec<(String, T)> = rest.by_ref().take(request.size).collect();
    let more = rest.next().is_some();
    let next = match page.last() {
        Some((key, _)) if more => Some(encode(listing, order, key)),
        _ => None,
    };
    Ok(Page {
        items: page.into_iter().map(|(_, item)| item).collect(),
        next,
    })
}

fn encode(listing: &str, order: &str, key: &str) -> String {
    hex::encode(format!("{listing}|{order}|{key}"))
}

fn decode(token: &str, listing: &str, order: &str) -> Result<String, AwsError> {
    let refused = || invalid(format!("invalid pagination token {token:?}"));
    let text = hex::decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(refused)?;
    let mut parts = text.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(l), Some(o), Some(key)) if l == listing && o == order => Ok(key.to_owned()),
        _ => Err(refused()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::registry::AwsErrorKind;

    fn letters(n: usize) -> Vec<(String, char)> {
        ('a'..='z').take(n).map(|c| (c.to_string(), c)).collect()
    }

    fn request(token: Option<&str>, size: usize, ascending: bool) -> PageRequest<'_> {
        PageRequest {
            token,
            size,
            ascending,
        }
    }

    /// Walks every page; returns the pages' items.
    fn walk(n: usize, size: usize, ascending: bool) -> Vec<String> {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = paginate(
                "test",
                letters(n),
                &request(token.as_deref(), size, ascending),
            )
            .unwrap();
            assert!(page.items.len() <= size);
            pages.push(page.items.iter().collect());
            match page.next {
                Some(next) => token = Some(next),
                None => return pages,
            }
        }
    }

    #[test]
    fn pages_of_one() {
        assert_eq!(walk(3, 1, true), ["a", "b", "c"]);
    }

    #[test]
    fn an_exact_multiple_has_no_empty_last_page() {
        assert_eq!(walk(6, 3, true), ["abc", "def"]);
        assert_eq!(walk(7, 3, true), ["abc", "def", "g"]);
    }

    #[test]
    fn an_empty_listing_is_one_empty_page_without_token() {
        assert_eq!(walk(0, 5, true), [""]);
        assert_eq!(
            paginate::<char>("test", Vec::new(), &PageRequest::default()).unwrap(),
            Page {
                items: vec![],
                next: None
            }
        );
    }

    #[test]
    fn a_page_larger_than_the_listing_is_the_last() {
        assert_eq!(walk(4, 250, true), ["abcd"]);
    }

    #[test]
    fn descending_runs_backwards() {
        assert_eq!(walk(5, 2, false), ["ed", "cb", "a"]);
    }

    #[test]
    fn the_next_page_starts_after_the_last_key_even_when_it_is_gone() {
        let first = paginate("test", letters(5), &request(None, 2, true)).unwrap();
        assert_eq!(first.items, ['a', 'b']);
        let token = first.next.unwrap();
        // "b" deleted, "ab" added before the token: neither changes where the next page starts.
        let mut changed: Vec<(String, char)> =
            letters(5).into_iter().filter(|(k, _)| k != "b").collect();
        changed.insert(1, ("ab".into(), '!'));
        let second = paginate("test", changed, &request(Some(&token), 2, true)).unwrap();
        assert_eq!(second.items, ['c', 'd']);
    }

    #[test]
    fn bad_tokens_are_invalid_requests() {
        let token = paginate("test", letters(5), &request(None, 2, true))
            .unwrap()
            .next
            .unwrap();
        for bad in ["zz", "not-hex!", "", &hex::encode("no separators")] {
            let error = paginate("test", letters(5), &request(Some(bad), 2, true)).unwrap_err();
            assert_eq!(error.kind, AwsErrorKind::InvalidRequest, "{bad:?}");
        }
        // Another listing's token, or the same token with the order flipped.
        let other = paginate("other", letters(5), &request(Some(&token), 2, true));
        assert_eq!(other.unwrap_err().kind, AwsErrorKind::InvalidRequest);
        let flipped = paginate("test", letters(5), &request(Some(&token), 2, false));
        assert_eq!(flipped.unwrap_err().kind, AwsErrorKind::InvalidRequest);
    }

    #[test]
    fn page_sizes_outside_the_model_are_invalid_requests() {
        for size in [0, 251] {
            let error = paginate("test", letters(3), &request(None, size, true)).unwrap_err();
            assert_eq!(error.kind, AwsErrorKind::InvalidRequest);
        }
        assert_eq!(
            paginate("test", letters(3), &request(None, 250, true))
                .unwrap()
                .items
                .len(),
            3
        );
    }

    #[test]
    fn tokens_fit_the_models_marker_pattern() {
        let token = paginate("things", letters(3), &request(None, 1, true))
            .unwrap()
            .next
            .unwrap();
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(token, hex::encode("things|asc|a"));
    }
}
