//! Every route of the real binary over real HTTP.

mod common;

use common::Server;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// Splits `"{greeting} {name}<br>\n<i>{millis}</i>\n"` into (greeting and name, millis).
fn parse_hello(body: &str) -> (&str, u128) {
    let (text, rest) = body
        .split_once("<br>\n<i>")
        .unwrap_or_else(|| panic!("unexpected body {body:?}"));
    let millis = rest
        .strip_suffix("</i>\n")
        .unwrap_or_else(|| panic!("unexpected body {body:?}"));
    (
        text,
        millis
            .parse()
            .unwrap_or_else(|_| panic!("no millis in {body:?}")),
    )
}

#[test]
fn hello_greets_by_name_with_the_time() {
    let server = Server::start(&[]);
    let before = now_millis();
    let resp = server.get("/hello/world");
    let after = now_millis();
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let (text, millis) = parse_hello(&resp.body);
    assert_eq!(text, "Hello AWS ECS! world");
    assert!(
        (before..=after).contains(&millis),
        "{millis} not within {before}..={after}"
    );
}

#[test]
fn names_are_decoded_and_html_escaped() {
    let server = Server::start(&[]);
    // `<>&"'` percent-encoded, as a browser sends it.
    let resp = server.get("/hello/%3C%3E%26%22%27%20J%C3%BCrgen");
    assert_eq!(resp.status, 200);
    assert_eq!(
        parse_hello(&resp.body).0,
        "Hello AWS ECS! &lt;&gt;&amp;&quot;&#x27; Jürgen"
    );

    // The tutorial's reflected XSS, sent raw on the wire: the HTTP parser refuses a raw `<`.
    let resp = server.raw(
        "GET /hello/<script>alert(1)</script> HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(resp.status, 400);
    assert!(
        !resp.body.contains("<script>"),
        "unescaped input in {:?}",
        resp.body
    );
    // Raw quotes and ampersands get through the parser and are escaped.
    let resp =
        server.raw("GET /hello/it's\"x\"&y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(resp.status, 200);
    assert_eq!(
        parse_hello(&resp.body).0,
        "Hello AWS ECS! it&#x27;s&quot;x&quot;&amp;y"
    );
}

#[test]
fn greeting_comes_from_the_environment_and_is_escaped_too() {
    let server = Server::start(&[("GREETING", "Hi <team> &")]);
    let resp = server.get("/hello/you");
    assert_eq!(parse_hello(&resp.body).0, "Hi &lt;team&gt; &amp; you");
    let version: serde_json::Value = serde_json::from_str(&server.get("/version").body).unwrap();
    assert_eq!(version["greeting"], "Hi <team> &");
}

#[test]
fn ping_and_version() {
    let server = Server::start(&[]);
    let ping = server.get("/ping");
    assert_eq!((ping.status, ping.body.as_str()), (200, "ok"));

    let resp = server.get("/version");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let version: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(version["greeting"], "Hello AWS ECS!");
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    let build = version["build"].as_str().expect("build is a string");
    assert!(!build.is_empty());
    assert_eq!(resp.header("x-app-version"), Some(build));
}

#[test]
fn every_answer_names_the_build() {
    let server = Server::start(&[]);
    let build = server
        .get("/version")
        .header("x-app-version")
        .expect("header")
        .to_owned();
    for path in ["/hello/x", "/ping", "/nope", "/hello/%zz"] {
        assert_eq!(
            server.get(path).header("x-app-version"),
            Some(build.as_str()),
            "{path}"
        );
    }
    let resp = server
        .raw("POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!(resp.header("x-app-version"), Some(build.as_str()));
}

#[test]
fn unknown_paths_and_wrong_methods() {
    let server = Server::start(&[]);
    for path in [
        "/",
        "/hello",
        "/hello/",
        "/hello/a/b",
        "/pingx",
        "/version/1",
    ] {
        assert_eq!(server.get(path).status, 404, "{path}");
    }
    for (method, path) in [
        ("POST", "/hello/x"),
        ("DELETE", "/ping"),
        ("PUT", "/version"),
    ] {
        let resp = server.raw(&format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!(resp.status, 405, "{method} {path}");
        assert_eq!(resp.header("allow"), Some("GET, HEAD"));
    }
}

#[test]
fn head_answers_like_get_without_a_body() {
    let server = Server::start(&[]);
    for path in ["/hello/head", "/ping", "/version"] {
        let get = server.get(path);
        let head = server.raw(&format!(
            "HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!((head.status, get.status), (200, 200), "HEAD {path}");
        assert_eq!(head.body, "", "HEAD {path} has no body");
        assert_eq!(head.header("content-type"), get.header("content-type"));
        assert!(head.header("x-app-version").is_some(), "HEAD {path}");
        if path != "/hello/head" {
            // The greeting's body holds the time; the others have a fixed length.
            assert_eq!(
                head.header("content-length"),
                Some(get.body.len().to_string().as_str()),
                "HEAD {path}"
            );
        }
    }
    assert_eq!(
        server
            .raw("HEAD /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .status,
        404
    );
}

#[test]
fn bad_names_are_rejected_without_echo() {
    let server = Server::start(&[]);
    let max = "a".repeat(1024);
    assert_eq!(server.get(&format!("/hello/{max}")).status, 200);
    let too_long = server.get(&format!("/hello/{max}b"));
    assert_eq!(too_long.status, 414);
    assert!(!too_long.body.contains("aaaa"));
    // 1025 bytes once decoded, from a short-looking raw path.
    assert_eq!(
        server.get(&format!("/hello/{}", "%41".repeat(1025))).status,
        414
    );

    for name in ["%zz", "100%", "%4", "%ff%fe"] {
        let resp = server.get(&format!("/hello/{name}"));
        assert_eq!(resp.status, 400, "{name}");
        assert!(
            !resp.body.contains(name),
            "echoed input for {name}: {:?}",
            resp.body
        );
    }
}

/// A fault-injected build: `/hello` fails its users while `/ping` passes the health check.
#[test]
fn a_fault_status_fails_hello_and_keeps_the_health_check_passing() {
    let server = Server::start(&[("HELLO_FAULT_STATUS", "500")]);
    let hello = server.get("/hello/world");
    assert_eq!(hello.status, 500);
    assert_eq!(hello.body, "fault injected by HELLO_FAULT_STATUS\n");
    assert_eq!(server.get("/ping").status, 200);
    assert_eq!(server.get("/version").status, 200);
}
