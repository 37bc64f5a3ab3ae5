"""Use cases for variables."""

from __future__ import annotations

from application.core import Outcome
from application.resources import ResourceCases, parse_ref
from domain.errors import Errors, NotFoundError
from domain.identity import aggregate_id
from domain.origin import Origin
from domain.variables import Variable, validate_variable


class VariableCases(ResourceCases):
    def create_variable(
        self,
        caller_id: int,
        key: str | None,
        value: str | None,
        mask: bool,
        namespace: str | None,
        origin: Origin,
    ) -> Outcome[int]:
        """Create a variable; a masked value is sealed before it reaches the event."""

        def command() -> Outcome[int]:
            errors = Errors()
            validate_variable(errors, key, value, mask)
            ref = parse_ref(namespace, errors)
            placement = self.place_checked(ref, caller_id, origin, errors, "variable", key, "key")
            assert key is not None  # checked by validate_variable
            assert value is not None
            variable_id = self.ids.next_id("variable")
            index = self.claim_name("variable", placement, key, variable_id, origin, "key")
            variable = Variable(
                public_id=variable_id,
                owner_id=placement.owner_id,
                author_id=caller_id,
                namespace_id=placement.namespace_id,
                key=key,
                value=self.secrets.seal(value) if mask else value,
                masked=mask,
                origin=origin,
            )
            return Outcome(variable_id, self.save(variable, index, *placement.pending))

        return self.run(command)

    def delete_variable(self, variable_id: int, caller_id: int, origin: Origin) -> Outcome[None]:
        def command() -> Outcome[None]:
            variable = self.load(aggregate_id("variable", variable_id), Variable)
            if variable is None or variable.deleted:
                raise NotFoundError("variable")
            self.require_write("variable", variable.owner_id, variable.namespace_id, caller_id)
            variable.delete(origin)
            index = self.release_name(
                "variable",
                variable.owner_id,
                variable.namespace_id,
                variable.key,
                variable_id,
                origin,
            )
            return Outcome(None, self.save(variable, index))

        return self.run(command)
