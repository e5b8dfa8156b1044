"""Classify images with MediaPipe Tasks alone: `python mediapipe_classify.py MODEL IMAGE...`.

Run by tests/edge/test_edge_metadata.py in `.venv-mediapipe` (`make mediapipe-venv`). It is all
the code an app needs: load the file, classify. Prints JSON: the top-1 class index per image, or
{"error": "..."} (exit 1) when MediaPipe refuses the file.
"""

import json
import sys

from mediapipe import Image
from mediapipe.tasks.python import BaseOptions, vision


def main(model: str, images: list[str]) -> int:
    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=model), max_results=1
    )
    try:
        classifier = vision.ImageClassifier.create_from_options(options)
    except Exception as err:  # MediaPipe raises RuntimeError/ValueError with its C++ status
        print(json.dumps({"error": str(err)}))
        return 1
    with classifier:
        top = []
        for path in images:
            result = classifier.classify(Image.create_from_file(path))
            best = result.classifications[0].categories[0]
            top.append({"index": best.index, "label": best.category_name, "score": best.score})
    print(json.dumps({"top": top}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
