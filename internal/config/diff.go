package config

import (
	"reflect"
	"slices"
)

// Changed lists the keys whose values differ between old and new, as
// written in the file ("log.level", "groups.redes" for a group added,
// removed or changed), sorted. It compares secrets too but returns only
// their keys, never a value, so the list may be logged.
func Changed(old, new Config) []string {
	var out []string
	var walk func(prefix string, a, b reflect.Value)
	walk = func(prefix string, a, b reflect.Value) {
		t := a.Type()
		for i := range t.NumField() {
			tag := t.Field(i).Tag.Get("mapstructure")
			if tag == "" || tag == "-" {
				continue
			}
			key := prefix + tag
			fa, fb := a.Field(i), b.Field(i)
			switch fa.Kind() {
			case reflect.Struct:
				walk(key+".", fa, fb)
			case reflect.Map:
				for _, k := range fa.MapKeys() {
					if vb := fb.MapIndex(k); !vb.IsValid() || !reflect.DeepEqual(fa.MapIndex(k).Interface(), vb.Interface()) {
						out = append(out, key+"."+k.String())
					}
				}
				for _, k := range fb.MapKeys() {
					if !fa.MapIndex(k).IsValid() {
						out = append(out, key+"."+k.String())
					}
				}
			default:
				if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
					out = append(out, key)
				}
			}
		}
	}
	walk("", reflect.ValueOf(old), reflect.ValueOf(new))
	slices.Sort(out)
	return out
}
