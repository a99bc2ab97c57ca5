"""What the regression families share: one output, trained with the squared error."""


class ScalarRegression:
    """Mixin of the regression task families (functions, drug assays, object poses): `loss_name` and
    `output_width` of the task-family protocol (metareg.tasks)."""

    @property
    def loss_name(self) -> str:
        return "mse"

    @property
    def output_width(self) -> int:
        return 1


class IndexedTasks:
    """Mixin of the families that draw a task as indices first (`sample_indices`) and gather its
    data from them (`episodes`): image families, whose test episodes `metareg.sample_test_episodes`
    then gathers one evaluation chunk at a time instead of materializing all of them."""

    def sample_indices(self, key, num_tasks: int, train: bool = True) -> tuple:
        raise NotImplementedError

    def episodes(self, *indices, train: bool = True):
        raise NotImplementedError
