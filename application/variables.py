"""Use cases for variables."""

from __future__ import annotations

from application.core import Outcome, command
from application.resources import ResourceCases, ResourceKind
from domain.errors import Errors
from domain.origin import Origin
from domain.variables import Variable, validate_variable

VARIABLES = ResourceKind(Variable, unique_field="key")


class VariableCases(ResourceCases):
    @command
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
        errors = Errors()
        validate_variable(errors, key, value, mask)
        new = self.place_new(VARIABLES, namespace, key, caller_id, origin, errors)
        assert value is not None  # checked by validate_variable
        variable = Variable(
            public_id=new.id,
            **new.ownership,
            key=new.name,
            value=self.secrets.seal(value) if mask else value,
            masked=mask,
            origin=origin,
        )
        return Outcome(new.id, self.save(variable, *new.saved_with))

    @command
    def delete_variable(self, variable_id: int, caller_id: int, origin: Origin) -> Outcome[None]:
        _, recordings = self.delete_resource(VARIABLES, variable_id, caller_id, origin)
        return Outcome(None, recordings)
