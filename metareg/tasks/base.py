"""What the regression families share: one output, trained with the squared error."""


class ScalarRegression:
    """Mixin of the regression task families (functions, drug assays, object poses): `loss_name` and `output_width`
    of the task-family protocol (metareg.tasks)."""

    @property
    def loss_name(self) -> str:
        return "mse"

    @property
    def output_width(self) -> int:
        return 1
