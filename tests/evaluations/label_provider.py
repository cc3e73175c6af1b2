"""A provider that lives only in the tests and answers sentiment questions: its "reader" base model
reads the label written in the review (so it is always right), its "positive" base answers POSITIVE to
everything. Added through settings.FINETUNE_PROVIDERS: the evaluations app needs no provider package."""

from __future__ import annotations

import re
from collections.abc import Iterator

from finetune_portal.providers.base import Capabilities, FineTuningProvider
from finetune_portal.providers.chat import ChatDelta, ChatDone, ChatEvent, ChatSettings, ServedModel

KEY = "fake_labels"
PATH = f"{__name__}.LabelProvider"
READER = "label-reader"
POSITIVE = "label-positive"
JUDGE = "label-judge"
_MARK = re.compile(r"\((POSITIVE|NEGATIVE|NEUTRAL)\)")


class LabelProvider(FineTuningProvider):
    key = KEY
    label = "Sentiment labels"
    capabilities = Capabilities(methods=frozenset({"sft"}), inference=True)
    launch_form = "tests.providers.fake_provider.FakeJobForm"
    calls: list[str] = []

    def enqueue_start(self, job_id: int) -> None:
        pass

    def enqueue_cancel(self, job_id: int) -> None:
        pass

    def chat_base_models(self, project) -> list[ServedModel]:
        return [
            ServedModel(name=name, label=name, provider=KEY, kind="base", provider_model=name)
            for name in (READER, POSITIVE, JUDGE)
        ]

    def chat_stream(
        self, *, project, model: ServedModel, messages: list[dict], settings: ChatSettings
    ) -> Iterator[ChatEvent]:
        type(self).calls.append(model.name)
        text = str(messages[-1]["content"])
        if model.name == JUDGE:
            # Grades by length: a one-word answer is a 9, anything longer a 4.
            answer = text.rsplit("Answer to grade:\n", 1)[-1]
            score = 9 if len(answer.split()) == 1 else 4
            yield ChatDelta(f'{{"score": {score}, "reason": "{len(answer.split())} words."}}')
        elif model.name == READER:
            found = _MARK.search(text)
            yield ChatDelta(found.group(1) if found else "NEUTRAL")
        else:
            yield ChatDelta("POSITIVE")
        yield ChatDone("stop", prompt_tokens=10, completion_tokens=1)
