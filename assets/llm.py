"""The optional OpenAI-compatible language-model endpoint (report narrative, translation), as a
resource built from the settings (orchestration/settings.py: LLM_BASE_URL, LLM_MODEL, LLM_API_KEY,
LLM_TIMEOUT_S). Unset base URL or model: no endpoint, and every feature says so."""

import dagster as dg


class LlmResource(dg.ConfigurableResource):
    base_url: str = ""
    model: str = ""
    api_key: str = ""
    timeout_s: float = 30.0

    def endpoint(self) -> dict | None:
        if not self.base_url or not self.model:
            return None
        return {"base_url": self.base_url.rstrip("/"), "model": self.model, "api_key": self.api_key,
                "timeout": self.timeout_s}
