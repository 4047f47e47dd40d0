"""The real server, started on a free loopback port, spoken to over HTTP."""
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from ernie_distill.inference import Predictor
from server_launcher import running_server

TEXTS = ["房间很干净，服务也好", "太差了，再也不来", "价格真的棒", "好"]


@pytest.fixture(scope="module")
def server(exported_student):
    with running_server(exported_student, "--max_texts", "8", "--max_chars", "50") as url:
        yield url


def post(url, body, **kwargs):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{url}/predict", data=data, headers={"Content-Type": "application/json"}, timeout=30,
                         **kwargs)


def test_health_names_the_model(server):
    health = requests.get(f"{server}/health", timeout=5).json()
    assert health["status"] == "ok" and health["kind"] == "student" and health["labels"] == ["negative", "positive"]


def test_predictions_match_predict_py(server, exported_student):
    expected = Predictor(exported_student).predict(TEXTS)
    response = post(server, {"texts": TEXTS})
    assert response.status_code == 200 and response.json() == {"results": expected}
    simple_server_shape = post(server, {"data": {"text": TEXTS}, "parameters": {"max_seq_len": 128}})
    assert simple_server_shape.json() == {"results": expected}


@pytest.mark.parametrize("body, status, field", [
    ({"texts": []}, 422, "texts"),
    ({"texts": ["好", "   "]}, 422, "texts[1]"),
    ({"texts": ["好", ""]}, 422, "texts[1]"),
    ({"texts": ["好", 3]}, 422, "texts[1]"),
    ({"texts": "好"}, 422, "texts"),
    ({"text": ["好"]}, 422, "texts"),
    ([1, 2], 422, "texts"),
    ({"texts": ["好"] * 9}, 413, "texts"),
    ({"texts": ["好" * 51]}, 413, "texts[0]"),
    ({"data": {"text": ["好", None]}}, 422, "data.text[1]"),
    ('{"texts": ["好"', 400, "body"),
    (b'{"texts": ["\xff"]}', 400, "body"),
    (b"x" * 10**6, 413, "body"),
])
def test_invalid_requests_get_4xx_naming_the_field_and_server_keeps_serving(server, body, status, field):
    response = post(server, body)
    assert response.status_code == status and response.json()["field"] == field, response.text
    assert field.split("[")[0] in response.json()["error"] or field == "body"
    assert post(server, {"texts": ["好"]}).status_code == 200


def test_concurrent_requests_are_all_answered_correctly(server, exported_student):
    requests_texts = [[TEXTS[i % 4], TEXTS[(i + 1) % 4]] * (1 + i % 3) for i in range(24)]
    predictor = Predictor(exported_student)
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda texts: post(server, {"texts": texts}), requests_texts))
    for texts, response in zip(requests_texts, responses):
        assert response.status_code == 200 and response.json()["results"] == predictor.predict(texts)
