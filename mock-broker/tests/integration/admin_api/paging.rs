//! Paging of every list through the router: `marker`/`pageSize`/`nextMarker` (certificate
//! and policy lists) and `nextToken`/`maxResults` (thing lists); pages of one, exact
//! multiples, empty lists, `isAscendingOrder`, and bad markers, tokens and sizes.

use super::*;

/// How one list operation pages.
#[derive(Clone, Copy)]
struct Listing<'a> {
    method: &'a str,
    path: &'a str,
    headers: &'a [(&'a str, &'a str)],
    /// The result member (`certificates`, `things`, ...).
    items: &'a str,
    /// `marker` or `nextToken`.
    token_in: &'a str,
    /// `nextMarker` or `nextToken`.
    token_out: &'a str,
    /// `pageSize` or `maxResults`.
    size: &'a str,
}

const fn marker<'a>(method: &'a str, path: &'a str, items: &'a str) -> Listing<'a> {
    Listing {
        method,
        path,
        headers: &[],
        items,
        token_in: "marker",
        token_out: "nextMarker",
        size: "pageSize",
    }
}

const fn token<'a>(path: &'a str, items: &'a str) -> Listing<'a> {
    Listing {
        method: "GET",
        path,
        headers: &[],
        items,
        token_in: "nextToken",
        token_out: "nextToken",
        size: "maxResults",
    }
}

impl Listing<'_> {
    fn uri(&self, query: &str) -> String {
        let separator = if self.path.contains('?') { '&' } else { '?' };
        format!("{}{separator}{query}", self.path)
    }

    async fn page(&self, p: &Arc<ControlPlane>, query: &str) -> Reply {
        call(p, self.method, &self.uri(query), self.headers, Value::Null).await
    }

    /// Every page of `size` items, following the tokens to the end.
    async fn walk(&self, p: &Arc<ControlPlane>, size: usize) -> Vec<Vec<Value>> {
        let mut pages = Vec::new();
        let mut query = format!("{}={size}", self.size);
        loop {
            let reply = self.page(p, &query).await;
            let json = reply.ok();
            let items = json[self.items].as_array().unwrap().clone();
            assert!(
                items.len() <= size,
                "{} page over {size}: {json}",
                self.path
            );
            pages.push(items);
            match json.get(self.token_out) {
                None => return pages,
                Some(next) => {
                    let next = next.as_str().unwrap();
                    query = format!("{}={size}&{}={next}", self.size, self.token_in);
                }
            }
            assert!(pages.len() <= 300, "{} never ends", self.path);
        }
    }

    /// Checks that walking with every size in `sizes` yields `expected` (the whole list,
    /// in order) exactly once, in pages of `size` but the last.
    async fn check(&self, p: &Arc<ControlPlane>, expected: &[Value], sizes: &[usize]) {
        for &size in sizes {
            let pages = self.walk(p, size).await;
            let lengths: Vec<usize> = pages.iter().map(Vec::len).collect();
            let mut wanted: Vec<usize> = expected.chunks(size).map(<[Value]>::len).collect();
            if wanted.is_empty() {
                wanted.push(0);
            }
            assert_eq!(lengths, wanted, "{} with pages of {size}", self.path);
            let all: Vec<Value> = pages.into_iter().flatten().collect();
            assert_eq!(all, expected, "{} with pages of {size}", self.path);
        }
    }

    /// The whole list, in one page.
    async fn all(&self, p: &Arc<ControlPlane>) -> Vec<Value> {
        let reply = self.page(p, &format!("{}=250", self.size)).await;
        assert_eq!(reply.ok().get(self.token_out), None);
        reply.json[self.items].as_array().unwrap().clone()
    }
}

/// 3 CAs; 5 certificates of the first, each with policy `shared`; 5 policies on the first
/// certificate; 7 things on the first certificate; thing `t0` with all 5 certificates.
async fn populated() -> (Arc<ControlPlane>, String, String) {
    let p = plane();
    let (ca, ca_id) = register_ca(&p, "signer 0").await;
    register_ca(&p, "signer 1").await;
    register_ca(&p, "signer 2").await;
    let shared = json!({"policyDocument": open_policy()});
    call(&p, "POST", "/policies/shared", &[], shared.clone())
        .await
        .ok();
    let mut arns = Vec::new();
    for serial in ["01", "02", "03", "04", "05"] {
        let (_, arn) = register_device(&p, &ca, serial).await;
        call(
            &p,
            "PUT",
            "/target-policies/shared",
            &[],
            json!({"target": arn}),
        )
        .await
        .ok();
        arns.push(arn);
    }
    let first = arns[0].clone();
    for name in ["p1", "p2", "p3", "p4"] {
        call(
            &p,
            "POST",
            &format!("/policies/{name}"),
            &[],
            shared.clone(),
        )
        .await
        .ok();
        call(
            &p,
            "PUT",
            &format!("/target-policies/{name}"),
            &[],
            json!({"target": first}),
        )
        .await
        .ok();
    }
    for thing in ["t0", "t1", "t2", "t3", "t4", "t5", "t6"] {
        call(&p, "POST", &format!("/things/{thing}"), &[], json!({}))
            .await
            .ok();
        call(
            &p,
            "PUT",
            &format!("/things/{thing}/principals"),
            &[("x-amzn-principal", first.as_str())],
            Value::Null,
        )
        .await
        .ok();
    }
    for arn in &arns[1..] {
        call(
            &p,
            "PUT",
            "/things/t0/principals",
            &[("x-amzn-principal", arn.as_str())],
            Value::Null,
        )
        .await
        .ok();
    }
    (p, ca_id, first)
}

#[tokio::test]
async fn every_list_pages_each_item_exactly_once() {
    let (p, ca_id, first) = populated().await;
    let by_ca = format!("/certificates-by-ca/{ca_id}");
    let attached = format!("/attached-policies/{}", encode(&first));
    let principal = [("x-amzn-principal", first.as_str())];
    let principal_things = Listing {
        headers: &principal,
        ..token("/principals/things", "things")
    };
    let cases: Vec<(Listing<'_>, usize)> = vec![
        (marker("GET", "/certificates", "certificates"), 5),
        (
            marker("GET", "/certificates?isAscendingOrder=true", "certificates"),
            5,
        ),
        (marker("GET", &by_ca, "certificates"), 5),
        (marker("GET", "/cacertificates", "certificates"), 3),
        (marker("GET", "/policies", "policies"), 5),
        (marker("POST", &attached, "policies"), 5),
        (marker("POST", "/policy-targets/shared", "targets"), 5),
        (token("/things", "things"), 7),
        (token("/things/t0/principals", "principals"), 5),
        (principal_things, 7),
    ];
    for (listing, count) in cases {
        let all = listing.all(&p).await;
        assert_eq!(all.len(), count, "{}", listing.path);
        let distinct: std::collections::HashSet<String> =
            all.iter().map(Value::to_string).collect();
        assert_eq!(distinct.len(), count, "{} repeats items", listing.path);
        // Pages of one, an exact multiple (the whole list), and uneven pages.
        listing.check(&p, &all, &[1, 2, 3, count]).await;
    }
    let names: Vec<Value> = token("/things", "things")
        .all(&p)
        .await
        .iter()
        .map(|t| t["thingName"].clone())
        .collect();
    assert_eq!(
        names,
        ["t0", "t1", "t2", "t3", "t4", "t5", "t6"].map(|n| json!(n))
    );
}

#[tokio::test]
async fn ascending_order_reverses_the_newest_first_default() {
    let (p, _, _) = populated().await;
    for (path, items) in [
        ("/certificates", "certificates"),
        ("/cacertificates", "certificates"),
        ("/policies", "policies"),
    ] {
        let newest_first = marker("GET", path, items).all(&p).await;
        let ascending = format!("{path}?isAscendingOrder=true");
        let mut oldest_first = marker("GET", &ascending, items).all(&p).await;
        oldest_first.reverse();
        assert_eq!(newest_first, oldest_first, "{path}");
        let explicit = format!("{path}?isAscendingOrder=false");
        assert_eq!(marker("GET", &explicit, items).all(&p).await, newest_first);
    }
}

#[tokio::test]
async fn empty_lists_are_one_page_without_a_token() {
    let p = plane();
    let (_, ca_id) = register_ca(&p, "lonely").await;
    call(
        &p,
        "POST",
        "/policies/unused",
        &[],
        json!({"policyDocument": open_policy()}),
    )
    .await
    .ok();
    call(&p, "POST", "/things/bare", &[], json!({})).await.ok();
    for (uri, method, expected) in [
        (
            "/certificates?pageSize=1",
            "GET",
            json!({"certificates": []}),
        ),
        (
            &*format!("/certificates-by-ca/{ca_id}?pageSize=1"),
            "GET",
            json!({"certificates": []}),
        ),
        (
            "/policy-targets/unused?pageSize=1",
            "POST",
            json!({"targets": []}),
        ),
        (
            "/things/bare/principals?maxResults=1",
            "GET",
            json!({"principals": []}),
        ),
        (
            &*format!(
                "/attached-policies/{}",
                encode(&format!(
                    "arn:aws:iot:us-east-1:123456789012:cert/{}",
                    "d".repeat(64)
                ))
            ),
            "POST",
            json!({"policies": []}),
        ),
    ] {
        assert_eq!(
            call(&p, method, uri, &[], Value::Null).await.ok(),
            &expected,
            "{uri}"
        );
    }
    let p = plane();
    assert_eq!(
        get(&p, "/things?maxResults=1").await.ok(),
        &json!({"things": []})
    );
    assert_eq!(get(&p, "/policies").await.ok(), &json!({"policies": []}));
    assert_eq!(
        get(&p, "/cacertificates").await.ok(),
        &json!({"certificates": []})
    );
}

#[tokio::test]
async fn bad_markers_tokens_and_sizes_are_invalid_requests() {
    let (p, _, _) = populated().await;
    let things_token = get(&p, "/things?maxResults=2").await.json["nextToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let certificates_marker = get(&p, "/certificates?pageSize=2").await.json["nextMarker"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, uri) in [
        ("GET", "/certificates?marker=zz".to_owned()),
        (
            "GET",
            format!("/certificates?marker={}", hex_of("nonsense")),
        ),
        (
            "GET",
            format!("/cacertificates?marker={certificates_marker}"),
        ),
        ("GET", format!("/policies?marker={certificates_marker}")),
        // The marker of the newest-first order is not one of the oldest-first order.
        (
            "GET",
            format!("/certificates?isAscendingOrder=true&marker={certificates_marker}"),
        ),
        ("GET", "/things?nextToken=not-a-token".to_owned()),
        (
            "GET",
            format!("/things/t0/principals?nextToken={things_token}"),
        ),
        (
            "POST",
            format!("/policy-targets/shared?marker={things_token}"),
        ),
        ("GET", "/certificates?pageSize=0".to_owned()),
        ("GET", "/certificates?pageSize=251".to_owned()),
        ("GET", "/certificates?pageSize=ten".to_owned()),
        ("GET", "/things?maxResults=0".to_owned()),
        ("GET", "/things?maxResults=-1".to_owned()),
        ("GET", "/policies?isAscendingOrder=yes".to_owned()),
    ] {
        call(&p, method, &uri, &[], Value::Null)
            .await
            .assert_error(400, "InvalidRequestException");
    }
    // The good tokens still work.
    let next = get(
        &p,
        &format!("/things?maxResults=2&nextToken={things_token}"),
    )
    .await;
    assert_eq!(next.ok()["things"].as_array().unwrap().len(), 2);
    let next = get(
        &p,
        &format!("/certificates?pageSize=2&marker={certificates_marker}"),
    )
    .await;
    assert_eq!(next.ok()["certificates"].as_array().unwrap().len(), 2);
}

fn hex_of(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}
