from kubegate.observability import parse_traceparent, request_id, traceparent_for

INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_continues_incoming_trace() -> None:
    out = traceparent_for({"TraceParent": INCOMING})
    parsed = parse_traceparent(out)
    assert parsed is not None
    assert parsed[0] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert parsed[1] != "00f067aa0ba902b7" and parsed[2] == "01"
    assert traceparent_for([(b"traceparent", INCOMING.encode())]).split("-")[1] == parsed[0]


def test_new_trace_when_missing_or_invalid() -> None:
    for value in (None, "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
                  "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"):
        out = traceparent_for(value)
        parsed = parse_traceparent(out)
        assert parsed is not None and parsed[0] != "4bf92f3577b34da6a3ce929d0e0e4736"
    assert traceparent_for({}) != traceparent_for({})


def test_request_id_pass_through_or_generate() -> None:
    assert request_id("abc-123") == "abc-123"
    assert request_id(b"abc") == "abc"
    generated = request_id("bad value\r\n")
    assert len(generated) == 32 and generated != request_id(None)
    assert len(request_id("x" * 300)) == 32
