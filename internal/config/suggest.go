package config

import (
	"fmt"
	"reflect"
	"strings"
)

// unknownKey is the problem of key, which no setting corresponds to: with
// the known key nearest to it by edit distance when one is near enough to
// be a typo ("smpt.host": did you mean smtp.host?).
func unknownKey(key string) error {
	if s := suggest(key); s != "" {
		return fmt.Errorf("%w; did you mean %s?", errUnknownKey, s)
	}
	return errUnknownKey
}

// suggest returns the known key or section nearest to key, or "" when
// none is within a third of its length (at most 3 edits).
func suggest(key string) string {
	var known []string
	seen := map[string]bool{}
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			known = append(known, k)
		}
	}
	for _, k := range leafKeys() {
		add(k.key)
		for i := range k.key { // the sections too: "smpt" → "smtp"
			if k.key[i] == '.' {
				add(k.key[:i])
			}
		}
	}
	add("groups")
	if rest, ok := strings.CutPrefix(key, "groups."); ok {
		if name, _, ok := strings.Cut(rest, "."); ok {
			t := reflect.TypeFor[GroupConfig]()
			for i := range t.NumField() {
				if tag := t.Field(i).Tag.Get("mapstructure"); tag != "" && tag != "-" {
					add("groups." + name + "." + tag)
				}
			}
		}
	}
	best, bestD := "", min(3, len(key)/3)+1
	for _, k := range known {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the edit distance between a and b in bytes (keys are
// ASCII), where two neighbours swapped ("smpt") count as one edit
// (optimal string alignment).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
