"""Object-store URIs (s3://, gs://): one rule for the SageMaker and Vertex AI settings and storage."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest

from pytest_mlgates.adapters.object_uri import PrefixedStore, is_prefix_uri, join_key, make_uri, split_uri
from pytest_mlgates.adapters.sagemaker.settings import parse_settings as parse_sagemaker
from pytest_mlgates.adapters.vertex.settings import parse_settings as parse_vertex
from pytest_mlgates.config import ConfigError


@pytest.mark.parametrize("uri, scheme, parts", [
    ("s3://bucket/a/b.txt", "s3", ("bucket", "a/b.txt")),
    ("s3://bucket", "s3", ("bucket", "")),
    ("s3://bucket/", "s3", ("bucket", "")),
    ("gs://my_bucket/dir/", "gs", ("my_bucket", "dir/")),
])
def test_split(uri: str, scheme: str, parts: tuple[str, str]) -> None:
    assert split_uri(uri, scheme) == parts


def test_split_refuses_another_scheme() -> None:
    with pytest.raises(ValueError, match=r"not a gs:// URI: 's3://b/k'"):
        split_uri("s3://b/k", "gs")


def test_join_and_make() -> None:
    assert join_key("/pre/", "", "data/", "/x.csv") == "pre/data/x.csv"
    assert join_key("", "") == ""
    assert make_uri("gs", "b", "p/", "/k") == "gs://b/p/k"


@pytest.mark.parametrize("uri, scheme, ok", [
    ("s3://my-bucket/mlgates", "s3", True),
    ("s3://my.bucket", "s3", True),
    ("s3://my_bucket/x", "s3", False),   # S3 bucket names have no underscore
    ("gs://my_bucket/x", "gs", True),
    ("s3://ab/x", "s3", False),          # too short
    ("s3://-bucket/x", "s3", False),
    ("s3://Bucket/x", "s3", False),
    ("gs://bucket/x", "s3", False),
    ("bucket/x", "gs", False),
    ("s3://" + "a" * 64, "s3", False),
    ("s3://bucket\n", "s3", False),     # "$" alone would let a trailing newline through
])
def test_prefix_uri_rule(uri: str, scheme: str, ok: bool) -> None:
    assert is_prefix_uri(uri, scheme) is ok


@dataclasses.dataclass(frozen=True)
class Store(PrefixedStore):
    _store_scheme: ClassVar[str] = "gs"
    _store_setting: ClassVar[str] = "where"
    where: str


@pytest.mark.parametrize("where, bucket, prefix", [("gs://b/p/q/", "b", "p/q"), ("gs://b", "b", ""),
                                                   ("gs://b/", "b", "")])
def test_prefixed_store(where: str, bucket: str, prefix: str) -> None:
    store = Store(where)
    assert (store.bucket, store.prefix) == (bucket, prefix)
    assert store.key("data", "x.csv") == "/".join(filter(None, [prefix, "data", "x.csv"]))
    assert store.uri("data/", "x.csv") == f"gs://{bucket}/" + store.key("data", "x.csv")


SAGEMAKER = {"region": "eu-west-1", "role_arn": "arn:aws:iam::123456789012:role/R"}
VERTEX = {"project": "my-project", "location": "us-central1"}


def test_both_clouds_settings_use_it() -> None:
    sm = parse_sagemaker({**SAGEMAKER, "s3_prefix": "s3://my-bucket/ml/gates/"}, env={})
    assert (sm.bucket, sm.prefix, sm.key("jobs", "j1"), sm.uri("lock")) == \
        ("my-bucket", "ml/gates", "ml/gates/jobs/j1", "s3://my-bucket/ml/gates/lock")
    vx = parse_vertex({**VERTEX, "staging_bucket": "gs://my_bucket"}, env={})
    assert (vx.bucket, vx.prefix, vx.key("data"), vx.uri("data", "a.csv")) == \
        ("my_bucket", "", "data", "gs://my_bucket/data/a.csv")


@pytest.mark.parametrize("parse, base, key, value, wanted", [
    (parse_sagemaker, SAGEMAKER, "s3_prefix", "s3://my_bucket/x", "s3://<bucket>[/<prefix>]"),
    (parse_sagemaker, SAGEMAKER, "s3_prefix", "gs://my-bucket/x", "s3://<bucket>[/<prefix>]"),
    (parse_vertex, VERTEX, "staging_bucket", "s3://my-bucket", "gs://<bucket>[/<prefix>]"),
    (parse_vertex, VERTEX, "staging_bucket", "gs://B", "gs://<bucket>[/<prefix>]"),
])
def test_a_bad_prefix_names_the_key(parse, base, key: str, value: str, wanted: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=rf"{key} must be {wanted.replace('[', '.').replace(']', '.')}.*{value}"):
        parse({**base, key: value}, env={})
