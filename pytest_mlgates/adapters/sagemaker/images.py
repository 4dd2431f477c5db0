"""Where SageMaker's stock scikit-learn inference image lives, per region: a small table of facts.

The facts are those of the SageMaker Python SDK's ``image_uri_config/sklearn.json``
(scope ``inference``; every framework version there shares one registry account per
region) and of its URI rule: ``<account>.dkr.ecr.<region>.<domain>/sagemaker-scikit-learn:
<version>-cpu-py3``. Regions outside the table (the isolated partitions, a region newer
than this table) are refused with the fix: set ``inference_image_uri``. Imports nothing.
"""

from __future__ import annotations

SKLEARN_REPOSITORY = "sagemaker-scikit-learn"
SKLEARN_VERSIONS = ("1.0-1", "1.2-1", "1.4-2-py312")
"""Framework versions of the inference image (the scikit-learn release each image carries: 1.0.2, 1.2.1, 1.4.2)."""
DEFAULT_SKLEARN_VERSION = "1.2-1"

SKLEARN_ACCOUNTS: dict[str, str] = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "ca-west-1": "190319476487",
    "cn-north-1": "450853457545",
    "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "414596584902",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}


class UnknownImageError(ValueError):
    """No stock image is known for this region or version."""


def sklearn_image_uri(region: str, version: str = DEFAULT_SKLEARN_VERSION) -> str:
    """The ECR URI of the scikit-learn inference image ``version`` in ``region``."""
    if version not in SKLEARN_VERSIONS:
        raise UnknownImageError(f"there is no SageMaker scikit-learn inference image {version!r}; the versions "
                                f"are {', '.join(SKLEARN_VERSIONS)}")
    account = SKLEARN_ACCOUNTS.get(region)
    if account is None:
        raise UnknownImageError(
            f"pytest-mlgates does not know where the SageMaker scikit-learn inference image is in region "
            f"{region!r}; set [tool.mlgates.sagemaker] inference_image_uri to that image's URI (the SageMaker "
            f"Python SDK prints it: sagemaker.image_uris.retrieve('sklearn', '{region}', '{version}'))")
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{SKLEARN_REPOSITORY}:{version}-cpu-py3"
