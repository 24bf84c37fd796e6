// Package text turns prompts into what a text-conditional diffusion model
// reads: a word-level [Tokenizer] trained on a corpus of captions, and a
// small Transformer text encoder ([EncoderConfig.Encode]) that maps token ids
// to one vector per position.
//
// A prompt goes through three steps:
//
//	"A Seven, 17!"  --Words-->  [a seven 1 7]  --Encode-->  [BOS a seven 1 7 PAD PAD …]  (MaxLen ids)
//	ids [B, L]  --EncoderConfig.Encode-->  tokens [B, L, Width], mask [B, L]
//
// The first id of every encoded prompt is BOS, so even the empty prompt has
// one real position: attention always has a key to attend to, and [Pooled]
// (the output at position 0) is a summary of the whole prompt, since
// attention in the encoder is bidirectional.
//
// The encoder is a pre-norm Transformer (as in GPT-2 and CLIP's text
// tower), for h₀ = E[ids] + P (token plus learned position embeddings):
//
//	h ← h + MHSA(LN(h))   (self-attention that does not look at padding)
//	h ← h + FF(LN(h))
//
// repeated Layers times, then a final LayerNorm.
package text
