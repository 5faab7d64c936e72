#!/usr/bin/perl
# core/relacy/extract.pl - copy named C functions out of the sources, for a
# Relacy test to compile, optionally with one memory order weakened.
#
# Usage: extract.pl [-m NAME=FUNC:NEEDLE[@N]:ORDER]... ROOT... -- FUNC...
#
# Each FUNC is found by name (not by file or line, so files may be split or
# renamed) as the one definition under the ROOT folders (*.c and *.h): a
# line starting in column 0 that names FUNC( and whose signature ends in
# "{" rather than ";", through the next line that is exactly "}". The
# functions are printed in the order given, each after a #line directive,
# so compiler and Relacy reports point at the real source. No definition,
# or two, is an error. A static helper whose name is not unique is named
# NAME@OTHER: the NAME defined in the same file as function OTHER. An
# item enum:NAME copies the enum (starting in column 0, ending "};") that
# lists the enumerator NAME, so constants private to a .c file keep their
# values, and macro:NAME copies the #define of NAME (with its continuation
# lines; several definitions are an error unless they are the same text).
#
# C's _Atomic(T) and _Atomic T become kc_atomic<T> (kc_relacy.hpp).
#
# -m adds a mutant NAME: inside FUNC, among the calls atomic_*(...) that
# name an order stronger than relaxed and whose text contains NEEDLE (the
# N-th of them; without @N there must be exactly one), the first such order
# O becomes kc_rl_mo(K, O, memory_order_ORDER): O unless the test runs
# mutant number K (kc_relacy.hpp), so one binary holds every mutant. The
# names are printed as kc_rl_mutant_names[], index K. White space does not count in the match
# (write "&e,P_WAITING" for "&e, P_WAITING").
# A spec that matches nothing is an error, so a mutant never silently
# stops being one when the code changes.
use strict;
use warnings;

my @mut;
while (@ARGV && $ARGV[0] eq '-m') {
    shift @ARGV;
    push @mut, shift @ARGV;
}
my @roots;
push @roots, shift @ARGV while @ARGV && $ARGV[0] ne '--';
shift @ARGV;
my @funcs;
my %near; # NAME -> OTHER, for NAME@OTHER
my @enums;
for my $a (@ARGV) {
    if ($a =~ /^enum:(\w+)$/) { push @enums, $1; push @funcs, "enum:$1"; next; }
    if ($a =~ /^macro:(\w+)$/) { push @funcs, "macro:$1"; next; }
    my ($n, $o) = split /@/, $a, 2;
    push @funcs, $n;
    $near{$n} = $o if defined $o;
}
die "usage: extract.pl [-m NAME=FUNC:NEEDLE[\@N]:ORDER]... ROOT... -- FUNC...\n"
    unless @roots && @funcs;

my @files;
for my $r (@roots) {
    open(my $f, '-|', 'find', $r, '-name', '*.[ch]') or die "find $r: $!\n";
    push @files, sort map { chomp; $_ } <$f>;
    close $f;
}

# name -> [ [file, line, text], ... ]
my %defs;
my %want = map { $_ => 1 } grep { !/^enum:/ } @funcs, values %near;
for my $file (@files) {
    open(my $fh, '<', $file) or die "$file: $!\n";
    my @l = <$fh>;
    close $fh;
    for (my $i = 0; $i < @l; $i++) {
        if ($l[$i] =~ /^#\s*define\s+(\w+)/ && grep { $_ eq "macro:$1" } @funcs) {
            my ($name, $k) = ($1, $i);
            $k++ while $k < $#l && $l[$k] =~ /\\\s*$/;
            my $blk = join('', @l[$i .. $k]);
            my $d = $defs{"macro:$name"} ||= [];
            push @$d, [ $file, $i + 1, $blk ] unless grep { $_->[2] eq $blk } @$d;
            $i = $k;
            next;
        }
        if ($l[$i] =~ /^(typedef\s+)?enum\b[^;]*\{\s*$/) {
            my $k = $i;
            $k++ while $k < @l && $l[$k] !~ /^\}[^;]*;/;
            my $blk = join('', @l[$i .. ($k < @l ? $k : $#l)]);
            for my $e (@enums) {
                push @{ $defs{"enum:$e"} }, [ $file, $i + 1, $blk ] if $blk =~ /^\s+\Q$e\E\b/m;
            }
            $i = $k;
            next;
        }
        next unless $l[$i] =~ /^[A-Za-z_]/ && $l[$i] !~ /^(#|typedef\b)/;
        next unless $l[$i] =~ /\b([A-Za-z_]\w*)\s*\(/;
        my $name;
        for my $n (keys %want) {
            if ($l[$i] =~ /(?<![\w.>])\Q$n\E\s*\(/) { $name = $n; last; }
        }
        next unless defined $name;
        # the signature runs until "{" (a definition) or ";" (a declaration)
        my $j = $i;
        my $sig = '';
        while ($j < @l) {
            $sig .= $l[$j];
            last if $l[$j] =~ /[{;]\s*(\/\*.*\*\/)?\s*$/;
            $j++;
        }
        next unless $j < @l && $l[$j] =~ /\{\s*$/ && $sig !~ /;\s*$/;
        my $k = $j;
        $k++ while $k < @l && $l[$k] !~ /^\}\s*$/;
        die "$file:" . ($i + 1) . ": $name: no closing brace\n" if $k >= @l;
        push @{ $defs{$name} }, [ $file, $i + 1, join('', @l[$i .. $k]) ];
        $i = $k;
    }
}

my %text;
for my $n (@funcs) {
    my $d = $defs{$n} || [];
    if (defined $near{$n}) {
        my $o = $defs{ $near{$n} } || [];
        die "extract.pl: $n\@$near{$n}: $near{$n} is not defined once\n" unless @$o == 1;
        $d = [ grep { $_->[0] eq $o->[0][0] } @$d ];
    }
    die "extract.pl: no definition of $n under @roots\n" if @$d == 0;
    die "extract.pl: $n is defined " . scalar(@$d) . " times: "
        . join(', ', map { "$_->[0]:$_->[1]" } @$d) . "\n" if @$d > 1;
    $text{$n} = $d->[0];
}

# The calls atomic_*( ... ) in a text, as [start, length] pairs.
sub atomic_calls {
    my ($s) = @_;
    my @c;
    while ($s =~ /\batomic_\w+\s*\(/g) {
        my $start = $-[0];
        my $depth = 1;
        my $p = pos($s);
        while ($depth > 0 && $p < length $s) {
            my $ch = substr($s, $p++, 1);
            $depth++ if $ch eq '(';
            $depth-- if $ch eq ')';
        }
        push @c, [ $start, $p - $start ];
        pos($s) = $start + 1;
    }
    return @c;
}

my @mnames;
for my $spec (@mut) {
    my ($mname, $fn, $needle, $order) = $spec =~ /^(\w+)=([^:]+):(.+):(\w+)$/
        or die "extract.pl: bad mutant spec '$spec'\n";
    push @mnames, $mname;
    my $k = scalar @mnames;
    my $nth = 0;
    $nth = $1 if $needle =~ s/@(\d+)$//;
    die "extract.pl: mutant $spec: $fn is not extracted\n" unless $text{$fn};
    my $body = \$text{$fn}->[2];
    my @hits = grep {
        my $c = substr($$body, $_->[0], $_->[1]);
        (my $flat = $c) =~ s/\s+//g;
        index($flat, $needle) >= 0 && $c =~ /memory_order_(acquire|release|acq_rel|seq_cst|consume)\b/
    } atomic_calls($$body);
    die "extract.pl: mutant $spec: no atomic call in $fn contains '$needle'\n" unless @hits;
    die "extract.pl: mutant $spec: " . scalar(@hits) . " calls in $fn contain '$needle'; add \@N\n"
        if !$nth && @hits > 1;
    die "extract.pl: mutant $spec: only " . scalar(@hits) . " matching calls\n" if $nth > @hits;
    my $h = $hits[ $nth ? $nth - 1 : 0 ];
    my $call = substr($$body, $h->[0], $h->[1]);
    $call =~ s/(memory_order_(acquire|release|acq_rel|seq_cst|consume))\b/kc_rl_mo($k, $1, memory_order_$order)/
        or die "extract.pl: mutant $spec: the call has no order stronger than relaxed\n";
    substr($$body, $h->[0], $h->[1]) = $call;
}

print "/* generated by core/relacy/extract.pl; do not edit */\n";
print "static const char *const kc_rl_mutant_names[] = {\"\"";
print ", \"$_\"" for @mnames;
print "};\n";
for my $n (@funcs) {
    my ($file, $line, $body) = @{ $text{$n} };
    $body =~ s/\b_Atomic\s*\(([^()]*)\)/kc_atomic<$1>/g;
    $body =~ s/\b_Atomic\s+(\w+)/kc_atomic<$1>/g;
    print "#line $line \"$file\"\n$body\n";
}
