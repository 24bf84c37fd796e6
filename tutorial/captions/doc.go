// Package captions writes English captions for training images from their
// label and from attributes measured on their pixels, and reads prompts
// back: text-to-image in miniature.
//
// # Measurements
//
// Measure looks at a grey digit image, with ink where a pixel is above 0,
// and returns three numbers (Attributes):
//
//   - Thickness, the stroke width in pixels, 2·A/P with A the ink area and P
//     the length of the ink's outline (edges between an ink pixel and a
//     background pixel): a stroke of width w and length L has A ≈ w·L and
//     P ≈ 2·L.
//   - Slant, the slope dx/dy of the ink, cov(x, y)/var(y) with y pointing
//     up: positive when the digit leans right.
//   - Size, the radius of gyration sqrt(var x + var y): how far the ink
//     spreads from its centre. (MNIST scales every digit to a 20-pixel box,
//     so the box height says little.)
//
// # Levels
//
// Thresholds cut each attribute into three levels: thin, medium, thick;
// leaning left, upright, leaning right; small, medium, large.
// DefaultThresholds come from the distributions on the MNIST training set,
// whose quantiles its comment lists.
//
// # Captions
//
// Caption turns a digit and its levels into a sentence such as "a thick 7
// leaning left", "seven, thin, tilted right" or "the digit 3 written
// large". It always names the digit and names each attribute at random
// (more often an extreme level than a medium one), with synonyms and a few
// sentence shapes, so a model sees varied text for the same image. The
// words come from a fixed Vocabulary of 63 words, small enough for a
// word-level tokenizer.
//
// Parse reads a prompt back into a Request (the digit and the levels it
// asks for), so that a sample generated from a prompt can be scored:
// measure the sample, take its Levels, and compare them with the request.
//
// For the emoji data set, DominantColour names the main colour of an image
// and EmojiCaption writes captions such as "a yellow smiley emoji".
package captions
