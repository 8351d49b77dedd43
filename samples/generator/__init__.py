"""The sample generator: blank forms filled in by a simulated hand and run through a simulated
scanner, each page with its truth file. `draw.generate` makes a form's samples, `values` chooses
what an applicant writes, `scan` is the scanner. It lives beside the samples it makes, not in
ocr/: the reader never uses it. It may import ocr/ (the printed form, fonts, validators' eras) and
schemas/; only tests, benchmarks and `madoguchi samples generate` import it, never the reader."""
