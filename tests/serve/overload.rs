//! Load shedding: past its limit of agent requests the server answers 503
//! with Retry-After at once, and recovers when the load goes.

use std::time::{Duration, Instant};

use crate::support::{Reply, Serve, TOKEN, send};

/// With room for one agent request, a request that is still uploading its
/// body holds the server's only slot: the next is answered at once with 503
/// and Retry-After, while health and status still answer.
#[test]
fn past_its_limit_the_agent_api_answers_503_with_retry_after() {
    use std::io::Write as _;
    let s = Serve::new()
        .enrollment()
        .args(&["--max-agent-requests", "1"])
        .start();
    let address = s.url("").trim_start_matches("http://").to_owned();
    let mut slow = std::net::TcpStream::connect(&address).expect("connect");
    write!(
        slow,
        "POST /api/v1/check-in HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer nobody\r\nContent-Length: 1000\r\n\r\n{{\"facts\":"
    )
    .expect("send the start of a request");
    slow.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));

    let enroll =
        serde_json::json!({"token": TOKEN, "facts": {"hostname": "h", "os": {"family": "debian"}}})
            .to_string();
    let Reply {
        status: code,
        headers,
        body,
    } = send(
        "POST",
        &s.url("/api/v1/enroll"),
        None,
        None,
        Some(enroll.clone()),
    )
    .expect("an answer");
    assert_eq!(code, 503, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["retry-after"], "30");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["error"], "unavailable");
    assert_eq!(s.get("/healthz").0, 200);
    assert_eq!(s.metric("fixpoint_requests_shed_total"), Some(1.0));

    drop(slow);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let code = send(
            "POST",
            &s.url("/api/v1/enroll"),
            None,
            None,
            Some(enroll.clone()),
        )
        .expect("an answer")
        .status;
        if code == 201 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slot was never released ({code})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
