"""Inference: from a decoded film to the model's output, and batch scoring (onnxruntime; no torch, no Qt).

* :mod:`.preprocess` - the one preprocessing shared with training;
* :mod:`.card` - the model card inside the ONNX file (id, threshold, how it was trained);
* :mod:`.engine` - loads the ONNX model, checks its contract, runs batches on CPU or CUDA;
* :mod:`.calibration`, :mod:`.operating_point` - temperature calibration and threshold rules;
* :mod:`.scoring` - worker threads decode and score many films, results in input order, batch by batch;
* :mod:`.batch` - batch scoring as rows, the atomic score CSV and the per-film output pool (``xrayviewer
  score`` is a thin shell over it; another engine plugs in as a batch scorer);
* :mod:`.heatmap`, :mod:`.heatmap_png` - the evidence map over the film, and heat-map PNG files;
* :mod:`.score_cache` - scores kept between sessions (content hash, model, threshold) in the user cache.
"""
