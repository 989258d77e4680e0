package ticket

import (
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"sort"
	"strings"
)

// GroupKind says what sort of team a group is; it matters for reports (time
// with a provider) and for what assignment mails say.
type GroupKind string

// The kinds of group the procedure names.
const (
	GroupDesk       GroupKind = "desk"       // Mesa de servicios (level 1)
	GroupOnSite     GroupKind = "onsite"     // soporte en sitio (level 2)
	GroupSpecialist GroupKind = "specialist" // especialista OTI (level 2 or 3)
	GroupProvider   GroupKind = "provider"   // proveedor (level 2 or 3)
)

// Group is a team that can hold tickets at one level.
type Group struct {
	Name  string
	Level Level
	Kind  GroupKind
	// Label is the readable name mails show for the group ("Redes y
	// comunicaciones"); empty means Name.
	Label string
	// Members are the addresses of the people in the group, each may
	// carry a display name ("Carlos Pérez <carlos@example.gov.co>"); the
	// Directory keeps them as bare addresses and the names apart.
	Members []string
	// Default marks the group that receives escalations to its level that
	// name no group.
	Default bool
}

// Directory knows the groups and who belongs to them. It is immutable after
// [NewDirectory] and safe for concurrent use.
type Directory struct {
	groups   map[string]Group
	names    []string // sorted
	defaults map[Level]string
	member   map[string][]string // address -> group names, sorted
	display  map[string]string   // address -> display name
}

// NewDirectory validates groups and indexes them. Every problem is reported
// at once: a level outside 1–3, no level-1 group, two defaults for a level,
// an unknown kind, a member address that does not parse.
func NewDirectory(groups []Group) (*Directory, error) {
	d := &Directory{
		groups:   make(map[string]Group),
		defaults: make(map[Level]string),
		member:   make(map[string][]string),
		display:  make(map[string]string),
	}
	var errs []error
	for _, g := range groups {
		name := strings.ToLower(strings.TrimSpace(g.Name))
		if name == "" || strings.ContainsAny(name, " \t@") {
			errs = append(errs, fmt.Errorf("group %q: name must be one word without @", g.Name))
			continue
		}
		if _, dup := d.groups[name]; dup {
			errs = append(errs, fmt.Errorf("group %q: defined twice", name))
			continue
		}
		g.Name = name
		if !g.Level.Valid() {
			errs = append(errs, fmt.Errorf("group %q: level %d must be 1, 2 or 3", name, g.Level))
		}
		switch g.Kind {
		case "":
			g.Kind = GroupSpecialist
			if g.Level == Level1 {
				g.Kind = GroupDesk
			}
		case GroupDesk, GroupOnSite, GroupSpecialist, GroupProvider:
		default:
			errs = append(errs, fmt.Errorf("group %q: kind %q must be desk, onsite, specialist or provider", name, g.Kind))
		}
		members := make([]string, 0, len(g.Members))
		for _, m := range g.Members {
			a, err := mail.ParseAddress(m)
			if err != nil {
				errs = append(errs, fmt.Errorf("group %q: member %q: %w", name, m, err))
				continue
			}
			addr := NormalizeAddr(a.Address)
			members = append(members, addr)
			if a.Name != "" {
				if prev, ok := d.display[addr]; ok && prev != a.Name {
					errs = append(errs, fmt.Errorf("group %q: member %s is called %q here and %q in another group", name, addr, a.Name, prev))
				}
				d.display[addr] = a.Name
			}
		}
		g.Members = members
		if g.Default {
			if prev, ok := d.defaults[g.Level]; ok {
				errs = append(errs, fmt.Errorf("group %q: level %d already has default group %q", name, g.Level, prev))
			}
			d.defaults[g.Level] = name
		}
		d.groups[name] = g
		d.names = append(d.names, name)
	}
	sort.Strings(d.names)
	for _, name := range d.names {
		g := d.groups[name]
		if _, ok := d.defaults[g.Level]; !ok && g.Level.Valid() {
			d.defaults[g.Level] = name // the first by name, when none is marked
		}
		for _, m := range g.Members {
			d.member[m] = append(d.member[m], name)
		}
	}
	if _, ok := d.defaults[Level1]; !ok {
		errs = append(errs, errors.New("no level-1 group (the service desk) is configured"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

// Group returns the group called name (case-insensitive).
func (d *Directory) Group(name string) (Group, bool) {
	g, ok := d.groups[strings.ToLower(strings.TrimSpace(name))]
	return g, ok
}

// Groups returns every group, sorted by name.
func (d *Directory) Groups() []Group {
	out := make([]Group, 0, len(d.names))
	for _, n := range d.names {
		out = append(out, d.groups[n])
	}
	return out
}

// DefaultGroup returns the group that receives tickets sent to level l
// without a group name.
func (d *Directory) DefaultGroup(l Level) (Group, bool) {
	name, ok := d.defaults[l]
	if !ok {
		return Group{}, false
	}
	return d.groups[name], true
}

// Desk returns the default level-1 group: the service desk.
func (d *Directory) Desk() Group {
	g, _ := d.DefaultGroup(Level1)
	return g
}

// GroupsOf returns the names of the groups addr belongs to.
func (d *Directory) GroupsOf(addr string) []string {
	return d.member[NormalizeAddr(addr)]
}

// IsDesk reports whether addr belongs to a level-1 group.
func (d *Directory) IsDesk(addr string) bool {
	return d.memberAtLevel(addr, Level1)
}

// IsStaff reports whether addr belongs to any group.
func (d *Directory) IsStaff(addr string) bool {
	return len(d.GroupsOf(addr)) > 0
}

func (d *Directory) memberAtLevel(addr string, l Level) bool {
	for _, g := range d.GroupsOf(addr) {
		if d.groups[g].Level == l {
			return true
		}
	}
	return false
}

// groupAtLevel returns the first group of addr at level l.
func (d *Directory) groupAtLevel(addr string, l Level) (Group, bool) {
	for _, g := range d.GroupsOf(addr) {
		if d.groups[g].Level == l {
			return d.groups[g], true
		}
	}
	return Group{}, false
}

// DisplayName returns the display name the groups give addr, "" when
// none does.
func (d *Directory) DisplayName(addr string) string { return d.display[NormalizeAddr(addr)] }

// GroupLabel returns the label of the group called name, "" when it has
// none or there is no such group.
func (d *Directory) GroupLabel(name string) string {
	g, _ := d.Group(name)
	return g.Label
}

// MemberAddresses returns the members of the group called name, with
// their display names.
func (d *Directory) MemberAddresses(name string) []Address {
	g, ok := d.Group(name)
	if !ok {
		return nil
	}
	out := make([]Address, 0, len(g.Members))
	for _, m := range g.Members {
		out = append(out, Address{Name: d.display[m], Addr: m})
	}
	return out
}

// groupNamesAt lists the names of the groups of level l, for error messages.
func (d *Directory) groupNamesAt(l Level) []string {
	var out []string
	for _, n := range d.names {
		if d.groups[n].Level == l {
			out = append(out, n)
		}
	}
	return out
}

// levelsOf returns the levels at which addr is staff, ascending.
func (d *Directory) levelsOf(addr string) []Level {
	var ls []Level
	for _, g := range d.GroupsOf(addr) {
		if l := d.groups[g].Level; !slices.Contains(ls, l) {
			ls = append(ls, l)
		}
	}
	slices.Sort(ls)
	return ls
}
