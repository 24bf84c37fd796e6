// Package nb holds what the notebooks' cells share, so that each notebook
// starts with a few lines instead of a copied set-up cell: error handling
// that stops a cell ([Must]), showing a figure ([Show]), the backend
// ([Backend]), models trained once and cached ([Model]), 2-D samples and
// their quality ([Sample2D], [Quality], [Scatter]), class labels
// ([PerClass], [ByClass]), MNIST grids ([DigitGrid]), pretrained
// checkpoints ([Open]), loss curves ([LossCurve]) and small numeric helpers.
// Files named after a chapter hold what only that chapter needs (ddpm.go,
// ddim.go, score.go, guidance.go, and families.go: notebook 10's
// comparison of diffusion models, VAEs and GANs under one budget,
// [CompareFamilies], [FamilyTable], [ReadFamilyResults]).
//
// GoNB runs every cell as a new program, so these functions are written to
// be called from cells: on an error they panic with the error's message,
// which GoNB shows under the cell and which stops it (CI's notebook run then
// fails). Library code should return errors instead; nothing outside the
// notebooks and their tests imports this package.
package nb
