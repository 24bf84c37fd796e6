package experiment

import (
	"fmt"
	"slices"

	"github.com/godiffusion/diffusion-models/tutorial/emoji"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
)

// The colour image datasets: the emoji of package tutorial/emoji (1,906
// images, nine category labels), composited on white.
const (
	// Emoji is the emoji at their full 64×64×3.
	Emoji = "emoji"
	// Emoji32 is the emoji box-averaged to 32×32×3: the size that trains in
	// minutes on a CPU.
	Emoji32 = "emoji-32"
)

// ImageDatasets lists the image datasets: mnist, fashion-mnist, emoji-32 and emoji.
func ImageDatasets() []string { return append(mnist.Names(), Emoji32, Emoji) }

func isEmoji(name string) bool { return name == Emoji || name == Emoji32 }

// ImageDimsOf returns the shape of one image of an image dataset
// ([28, 28, 1] for MNIST and Fashion-MNIST, [64, 64, 3] for emoji,
// [32, 32, 3] for emoji-32), or nil for other datasets.
func ImageDimsOf(dataset string) []int {
	switch {
	case slices.Contains(mnist.Names(), dataset):
		return []int{28, 28, 1}
	case dataset == Emoji:
		return []int{emoji.Size, emoji.Size, 3}
	case dataset == Emoji32:
		return []int{32, 32, 3}
	}
	return nil
}

// imageClasses returns the number of labels of an image dataset.
func imageClasses(dataset string) int {
	if isEmoji(dataset) {
		return len(emoji.Categories())
	}
	return 10
}

// LoadImages returns the split ("train" or "test") of an image dataset in
// the mnist package's Set (pixels in [−1, 1], channels last). The emoji are
// downloaded on first use (emoji.Fetch) and have no split of their own:
// every tenth emoji in file-name order (index 0, 10, 20, …) is a test image,
// the others train.
func LoadImages(dataset, split string) (*mnist.Set, error) {
	if !isEmoji(dataset) {
		return mnist.Load(dataset, split)
	}
	if split != "train" && split != "test" {
		return nil, fmt.Errorf("experiment: unknown split %q (want train or test)", split)
	}
	size := ImageDimsOf(dataset)[0]
	set, err := emoji.LoadDefault(nil, emoji.Options{Size: size})
	if err != nil {
		return nil, err
	}
	out := &mnist.Set{Name: dataset, Split: split, H: set.H, W: set.W, C: set.C}
	for i := range set.N {
		if (i%10 == 0) == (split == "test") {
			out.Pixels = append(out.Pixels, set.Image(i)...)
			out.Labels = append(out.Labels, set.Labels[i])
			out.N++
		}
	}
	return out, nil
}
