"""Corpus documents that the placeholder, quota, fragment, liquid, redirect, cross-domain,
redirect-content-urls, xsl-transform and LLM token work made compile."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegate.policies.check import check_file

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora" / "apim-policies"
SNIPPETS = "Azure__api-management-policy-snippets/examples/"
TD = "Azure__azure-api-management-policy-toolkit/test/Test.Decompiling/TestData/"
DOCUMENTS = [
    SNIPPETS + "List all inbound headers.policy.xml",
    SNIPPETS + "Trigger Azure Data Factory Pipeline With Parameters.policy.xml",
    SNIPPETS + "oauth-proxy/oauth-proxy-sign-in.xml",
    SNIPPETS + "oauth-proxy/oauth-proxy-callback.xml",
    SNIPPETS + "Backend for Frontend or curated API policy.xml",  # timeout="{{bff-timeout}}"
    SNIPPETS + "Extracting multiple values from xml documents.policy.xml",  # <message3>
    TD + "named-value-scenarios.xml",
    TD + "rate-limit-by-key-retry.xml",  # set-header name expression
    "Azure__apiops/SampleArtifacts/policy.xml",
    TD + "quota.xml",
    TD + "forward-request.xml",
    TD + "cross-domain.xml",
    TD + "redirect-content-urls.xml",
    TD + "llm-token-limit.xml",
    TD + "azure-openai-token-limit.xml",
    TD + "azure-openai-emit-token-metric.xml",
]


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus folder absent: {CORPUS}")
@pytest.mark.parametrize("name", DOCUMENTS)
def test_document_compiles(name: str) -> None:
    result = check_file(CORPUS / name)
    assert result.ok, [str(p) for p in result.problems]


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus folder absent: {CORPUS}")
def test_xsl_transform_document_compiles() -> None:
    pytest.importorskip("lxml")
    result = check_file(CORPUS / TD / "xsl-transform.xml")
    assert result.ok, [str(p) for p in result.problems]
