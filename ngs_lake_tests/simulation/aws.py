"""The simulation's AWS: an object with `ngs_lake.aws.clients.AwsClients`'s interface whose
DynamoDB and S3 are moto's, in process, and whose SQS, SNS and Storage Gateway are the fakes,
every call passing through the fault plan (throttles, lost answers, hangs, crashes).

Faults are raised as botocore raises them: a `ClientError` with AWS's error code, or a
`ReadTimeoutError` after the read timeout has passed on the virtual clock. A crash is
`SimulatedCrash`, a BaseException nothing in the product catches: the process is gone, and every
later call of the abandoned step fails the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from ngs_lake.aws.clients import AwsTarget
from ngs_lake_tests.simulation.clock import VirtualClock
from ngs_lake_tests.simulation.fake_sqs import ACCOUNT, client_error

DEFAULT_READ_TIMEOUT = 30.0  # ngs_lake.aws.clients._BOTOCORE_CONFIG
DEFAULT_ATTEMPTS = 5


class SimulatedCrash(BaseException):
    """The daemon died here: the step is abandoned; the next one restarts from the ledger."""


@dataclass
class Fault:
    """One injected failure: `service` and `operation` (botocore's PascalCase name, or "*"),
    `kind` one of: throttle (before the call), lost (after it took effect), fail, hang,
    conditional (a ConditionalCheckFailed before the call); `scope` restricts it to calls whose
    parameters mention the string (a share ARN, a gateway ARN)."""

    service: str
    operation: str
    kind: str
    times: int = 1
    scope: str = ""

    def matches(self, service: str, operation: str, params: dict[str, Any]) -> bool:
        if self.times <= 0 or service != self.service:
            return False
        if self.operation not in ("*", operation):
            return False
        return not self.scope or self.scope in repr(params)


@dataclass
class FaultPlan:
    faults: list[Fault] = field(default_factory=list)
    crash_after_calls: int | None = None  # crash on the call after this many
    crashed: bool = False
    calls: int = 0
    exercised: Counter[str] = field(default_factory=Counter)
    # Called before every AWS call: the simulation's hook for interleaving (run another step
    # from inside this one, as a concurrent process would); True once it has acted.
    interleave: Callable[[str, str], bool] | None = None
    gsi_lag: bool = False  # by-state index reads answer as they did before

    def before(self, service: str, operation: str, params: dict[str, Any]) -> Fault | None:
        if self.crashed:
            raise SimulatedCrash(f"already crashed ({service}.{operation})")
        self.calls += 1
        if self.crash_after_calls is not None and self.calls > self.crash_after_calls:
            self.crashed = True
            self.crash_after_calls = None
            self.exercised["crash"] += 1
            raise SimulatedCrash(f"crash before {service}.{operation}")
        hook, self.interleave = self.interleave, None
        if hook is not None and not hook(service, operation):
            self.interleave = hook  # not yet: asked again at the next call
        for fault in self.faults:
            if fault.matches(service, operation, params):
                fault.times -= 1
                self.exercised[f"{service}.{fault.kind}"] += 1
                return fault
        return None


def _raise_before(
    fault: Fault, service: str, operation: str, clock: VirtualClock, rt: float, attempts: int
) -> None:
    if fault.kind == "throttle":
        code = (
            "ThrottlingException"
            if service != "dynamodb"
            else ("ProvisionedThroughputExceededException")
        )
        raise client_error(code, "Rate exceeded", operation, 400)
    if fault.kind == "conditional":  # another writer moved the run first
        error = client_error("TransactionCanceledException", "Transaction cancelled", operation)
        error.response["CancellationReasons"] = [{"Code": "ConditionalCheckFailed"}]
        raise error
    if fault.kind == "fail":
        raise EndpointConnectionError(endpoint_url=f"https://{service}.us-east-1.amazonaws.com")
    if fault.kind == "slow":  # answers, after most of the read timeout
        clock.advance(rt * 0.8)
        return
    if fault.kind == "hang":
        clock.advance(rt * attempts)
        raise ReadTimeoutError(endpoint_url=f"https://{service}.us-east-1.amazonaws.com")
    if fault.kind.startswith("code:"):  # a service's own error, e.g. the gateway's
        raise fault_error(fault.kind.removeprefix("code:"), operation)


def fault_error(error_code: str, operation: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "InvalidGatewayRequestException", "Message": error_code},
            "error": {"errorCode": error_code, "errorDetails": {}},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        operation,
    )


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


class FaultyClient:
    """A fake client behind the fault plan; attribute access returns the checked method."""

    def __init__(self, service: str, inner: Any, sim: SimAws) -> None:
        self._service, self._inner, self._sim = service, inner, sim

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if name.startswith("_") or not callable(method) or name == "get_paginator":
            if name == "get_paginator":
                return lambda operation: _Paginated(getattr(self, operation))
            return method

        def call(**params: Any) -> Any:
            return self._sim.call(self._service, _pascal(name), params, lambda: method(**params))

        return call


@dataclass
class _Paginated:
    call: Callable[..., dict]

    def paginate(self, **kwargs: Any) -> Any:
        yield self.call(**kwargs)


class SimAws:
    """`AwsClients` for the simulation; `bounded` gives a view with its own timeout and attempts,
    sharing everything else."""

    def __init__(
        self,
        clock: VirtualClock,
        plan: FaultPlan,
        moto_clients: dict[str, Any],
        fakes: dict[str, Any],
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
    ) -> None:
        self.clock, self.plan = clock, plan
        self.moto_clients, self.fakes = moto_clients, fakes
        self.read_timeout, self.attempts = read_timeout, attempts
        self.target = AwsTarget(region="us-east-1", name="aws")
        self._faulty = {name: FaultyClient(name, fake, self) for name, fake in fakes.items()}
        self._lost: Fault | None = None
        self._query: Any = None
        self._index_answers: dict[Any, dict] = {}
        for name, client in moto_clients.items():
            self.hook_moto(name, client)

    def call(self, service: str, operation: str, params: dict, invoke: Callable[[], Any]) -> Any:
        fault = self.plan.before(service, operation, params)
        if fault is not None and fault.kind != "lost":
            _raise_before(fault, service, operation, self.clock, self.read_timeout, self.attempts)
        answer = invoke()
        if fault is not None and fault.kind == "lost":  # took effect; the answer never came
            if service == "sns":  # the sender cannot know it was delivered: at least once
                self.fakes["sns"].answers_lost.add(len(self.fakes["sns"].deliveries) - 1)
            self.clock.advance(self.read_timeout)
            raise ReadTimeoutError(endpoint_url=f"https://{service}.us-east-1.amazonaws.com")
        return answer

    def hook_moto(self, service: str, client: Any) -> None:
        """The same fault plan for a moto client, through botocore's call events; with
        `gsi_lag` set, a by-state index query answers what it answered the last time."""

        def before_call(model: Any, params: dict, **_: Any) -> Any:
            body = params.get("body")
            fault = self.plan.before(service, model.name, {"body": body})
            if fault is not None and fault.kind == "lost":
                self._lost = fault
            elif fault is not None:
                _raise_before(fault, service, model.name, self.clock, self.read_timeout, 1)
            lagging = (
                self.plan.gsi_lag
                and model.name == "Query"
                and b"by-state" in (body if isinstance(body, bytes) else str(body).encode())
            )
            if lagging and body in self._index_answers:
                self.plan.exercised["dynamodb.gsi_lag"] += 1
                return (AWSResponse("", 200, {}, None), self._index_answers[body])
            self._query = body if model.name == "Query" else None
            return None

        def after_call(model: Any, parsed: dict, **_: Any) -> None:
            if model.name == "Query" and self._query is not None and "Items" in parsed:
                self._index_answers.setdefault(self._query, parsed)
                if not self.plan.gsi_lag:
                    self._index_answers[self._query] = parsed
            lost, self._lost = self._lost, None
            if lost is not None:
                self.clock.advance(self.read_timeout)
                raise ReadTimeoutError(endpoint_url=f"https://{service}.us-east-1.amazonaws.com")

        client.meta.events.register(f"before-call.{service}.*", before_call)
        client.meta.events.register(f"after-call.{service}.*", after_call)

    def bounded(self, read_timeout: float, max_attempts: int) -> SimAws:
        view = SimAws.__new__(SimAws)
        view.__dict__.update(self.__dict__)
        view.read_timeout, view.attempts = read_timeout, max_attempts
        view._faulty = {n: FaultyClient(n, f, view) for n, f in self.fakes.items()}
        return view

    def client(self, service: str) -> Any:
        if service in self._faulty:
            return self._faulty[service]
        return self.moto_clients[service]

    def s3(self) -> Any:
        return self.client("s3")

    def sqs(self) -> Any:
        return self.client("sqs")

    def sns(self) -> Any:
        return self.client("sns")

    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    def storagegateway(self) -> Any:
        return self.client("storagegateway")

    def account_id(self) -> str:
        return ACCOUNT
