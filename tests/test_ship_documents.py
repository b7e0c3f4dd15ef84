"""What the shipper sends: each document serialised once, the same JSON either way."""

from __future__ import annotations

import json

from pipeline import ship


def test_documents_are_serialised_compactly_with_their_text_as_it_is():
    source = {"message": "宛先不明", "log": {"offset": 4096}, "event": {"duration": 1.5}}
    text = ship._serialise(source)
    assert text == '{"message":"宛先不明","log":{"offset":4096},"event":{"duration":1.5}}'
    assert json.loads(text) == source


def test_a_number_too_large_for_64_bits_is_still_sent():
    # The cluster, not the shipper, refuses it (and the document goes to the dead letter).
    assert ship._serialise({"size": 10**30}) == '{"size": 1000000000000000000000000000000}'
