"""What a provider raises when it says no: ProviderError (permanent or to be retried) and the refusals
the portal treats apart (not installed, not ready yet, refused, shut down)."""

from __future__ import annotations


def _rebuild_exception(cls: type[BaseException], args: tuple, state: dict) -> BaseException:
    """Unpickle an exception without calling its ``__init__`` (whose signature pickle cannot know)."""
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class ProviderError(Exception):
    """A provider said no. ``permanent`` errors fail the job; others are retried.

    ``message`` is the provider's own words, shown verbatim; ``hint`` is our plain-language reading of it.
    It and its subclasses cross Celery (a task's retry and result carry them), so they pickle with their
    attributes whatever their ``__init__`` takes.
    """

    def __init__(self, message: str, *, permanent: bool, hint: str = "", code: str = ""):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.hint = hint
        self.code = code

    def __reduce__(self):
        return (_rebuild_exception, (type(self), self.args, dict(self.__dict__)))


class ProviderUnavailable(ProviderError):
    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class ModelNotReady(ProviderError):
    """The model exists but cannot answer yet (OpenAI answers 404 for a few minutes after a job
    succeeds): a moment's wait, not a failure."""

    def __init__(
        self,
        message: str = "Not ready yet: the provider is still deploying this model; try again in a minute.",
        *,
        hint: str = "",
    ):
        super().__init__(message, permanent=False, hint=hint, code="model_not_ready")


class AnswerRefused(ProviderError):
    """The model declined to answer (a refusal or the provider's content filter): a final answer for
    that prompt, not a failure worth retrying."""

    def __init__(self, message: str, *, hint: str = ""):
        super().__init__(message, permanent=True, hint=hint, code="refusal")


class ModelShutDown(ProviderError):
    """The model is past its shutdown date at the provider and will not answer again."""

    def __init__(self, message: str, *, hint: str = ""):
        super().__init__(message, permanent=True, hint=hint, code="model_shut_down")
