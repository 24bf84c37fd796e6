// Package clip is a CLIP in miniature (Radford et al., 2021): an image
// encoder and a text encoder trained together so that an image and its
// caption map to nearby unit vectors, and other captions of the batch to
// vectors far from it.
//
// For a batch of B images x_i with captions t_i:
//
//	u_i = normalise(ImageEmbedding(x_i)),   v_i = normalise(TextEmbedding(t_i))   (unit vectors of EmbedDim)
//	L_ij = s · u_i·v_j,   s = exp(min(logit_scale, log 100))                        (B×B logits)
//
// where s = 1/τ is a learned inverse temperature, started at
// 1/InitTemperature and capped at 100 as in CLIP. The loss of example i is
// the symmetric InfoNCE, the mean of two cross-entropies: picking caption i
// among the B captions for image i (row i of L) and picking image i among
// the B images for caption i (column i):
//
//	ℓ_i = ½ (−log softmax_j(L_ij)|_{j=i} − log softmax_j(L_ji)|_{j=i})
//	    = ½ (logsumexp_j L_ij − L_ii + logsumexp_j L_ji − L_ii).
//
// Every other example of the batch is a negative. When two examples share
// a caption (or two captions say the same thing) they are false negatives:
// the loss pushes apart what should be together, and it cannot fall below
// the log of the number of copies. With few distinct captions (a handful of
// classes) the loss therefore stays well above 0 even when the model is
// perfect; the accuracies the loss reports count a tie with the diagonal as
// a hit, so they still reach 1.
//
// The text encoder is package text's Transformer; its weights live under
// the sub-scope "text", so that a text-conditional diffusion model can
// copy them and use the trained encoder, frozen, for its cross-attention.
package clip
