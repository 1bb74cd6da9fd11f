"""causalnet: explain and repair trained PyTorch vision models through causality.

The public face: models and data by spec string, the zoo, and (from the builder) the causal
graph. Everything else is importable but unadvertised.
"""

from . import graph_io
from .builder import BuildSettings, GraphBuilder, build_graph
from .data import DataBundle, load_data
from .errors import CausalnetError, CausalnetInputError
from .evaluate import accuracy
from .faithfulness import FaithfulnessReport, graph_faithfulness
from .fingerprint import model_fingerprint
from .graph import CausalGraph
from .models import load_model
from .zoo import load_zoo_model

__version__ = "0.1.0"

__all__ = ["build_graph", "BuildSettings", "GraphBuilder", "CausalGraph", "graph_io",
           "load_model", "load_data", "DataBundle", "load_zoo_model", "accuracy",
           "model_fingerprint", "graph_faithfulness", "FaithfulnessReport", "CausalnetError", "CausalnetInputError", "__version__"]
