"""The MLflow pyfunc face of a model bundle (what registry consumers and serving load)."""

from __future__ import annotations

import mlflow.pyfunc


class CodingPotentialPyfunc(mlflow.pyfunc.PythonModel):
    """Takes a DataFrame with a ``sequence`` column (normalised: upper case, T not U), returns one
    with ``coding_probability`` and ``label`` (``coding``/``noncoding``)."""

    def load_context(self, context) -> None:
        from .bundle import CodingModel

        self.model = CodingModel.load(context.artifacts["bundle"])

    def predict(self, context, model_input, params=None):
        import pandas as pd

        sequences = [str(s).upper().replace("U", "T") for s in model_input["sequence"]]
        probabilities = self.model.predict_proba(sequences)
        labels = ["coding" if p >= self.model.threshold else "noncoding" for p in probabilities]
        return pd.DataFrame({"coding_probability": probabilities, "label": labels}, index=model_input.index)
