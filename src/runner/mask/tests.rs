use super::*;

fn masker_of(values: &[&str]) -> Masker {
    let mut masker = Masker::new();
    for value in values {
        masker.add(value);
    }
    masker
}

/// Streams `text` in pieces of the given sizes (the last piece takes the rest).
fn stream_in_pieces(
    masker: &Masker,
    text: &[u8],
    sizes: impl IntoIterator<Item = usize>,
) -> Vec<u8> {
    let mut stream = MaskStream::new();
    let mut out = Vec::new();
    let mut rest = text;
    for size in sizes {
        let (piece, after) = rest.split_at(size.min(rest.len()));
        stream.push(masker, piece, &mut out);
        rest = after;
    }
    stream.push(masker, rest, &mut out);
    stream.finish(masker, &mut out);
    out
}

fn stream_whole(masker: &Masker, text: &[u8]) -> Vec<u8> {
    stream_in_pieces(masker, text, [])
}

/// xorshift64: deterministic, so a failure reproduces.
struct Prng(u64);

impl Prng {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

/// Text over a small alphabet that keeps producing partial and overlapping occurrences of the
/// values in `overlapping_masker`.
fn random_text(prng: &mut Prng, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcab\n x";
    (0..len)
        .map(|_| char::from(ALPHABET[prng.below(ALPHABET.len())]))
        .collect()
}

fn overlapping_masker() -> Masker {
    masker_of(&["abc", "abcabc", "bca", "cab x", "aab", "aaaab", "b b"])
}

#[test]
fn secret_split_across_pushes_is_masked() {
    let masker = masker_of(&["hunter2", "hunter22-long", "s3cr3t"]);
    let text = "login hunter2 then hunter22-long, hunter2hunter2s3cr3t and huntex s3cr3\nend";
    let expected = masker.mask_str(text).into_owned().into_bytes();
    assert_eq!(
        expected,
        b"login *** then ***, ********* and huntex s3cr3\nend"
    );

    let byte_by_byte =
        stream_in_pieces(&masker, text.as_bytes(), std::iter::repeat_n(1, text.len()));
    assert_eq!(
        String::from_utf8_lossy(&byte_by_byte),
        String::from_utf8_lossy(&expected)
    );

    let mut prng = Prng(0x5eed);
    for _ in 0..500 {
        let sizes: Vec<usize> = (0..12).map(|_| prng.below(20)).collect();
        let out = stream_in_pieces(&masker, text.as_bytes(), sizes.clone());
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&expected),
            "pieces {sizes:?}"
        );
    }
}

#[test]
fn overlapping_secrets_in_random_splits_match_masking_the_whole() {
    let masker = overlapping_masker();
    let mut prng = Prng(42);
    for _ in 0..300 {
        let len = prng.below(120);
        let text = random_text(&mut prng, len);
        let expected = masker.mask_str(&text).into_owned();
        let sizes: Vec<usize> = (0..prng.below(30)).map(|_| prng.below(16)).collect();
        let out = stream_in_pieces(&masker, text.as_bytes(), sizes.clone());
        assert_eq!(
            String::from_utf8_lossy(&out),
            expected,
            "text {text:?}, pieces {sizes:?}"
        );
    }
}

#[test]
fn multi_line_secret_masks_each_line() {
    let mut masker = Masker::new();
    assert!(masker.add("-----BEGIN KEY-----\r\nMIIEpAIB\n-----END KEY-----\n"));
    assert_eq!(
        masker.len(),
        5,
        "each line, and the percent form of the two with spaces"
    );
    let printed = "key:\n-----BEGIN KEY-----\nMIIEpAIB\n-----END KEY-----\ndone";
    assert_eq!(masker.mask_str(printed), "key:\n***\n***\n***\ndone");
    assert_eq!(masker.mask_str("only MIIEpAIB leaked"), "only *** leaked");
    assert_eq!(
        stream_whole(&masker, b"-----BEGIN KEY-----\r\nMIIEpAIB\r\n"),
        b"***\r\n***\r\n"
    );
}

#[test]
fn longest_match_wins_over_prefix() {
    let masker = masker_of(&["abc", "abcdef", "cdefgh"]);
    let cases = [
        ("xabcdefy", "x***y"),
        ("abcde", "***de"),
        ("abcdefgh", "***gh"),
        ("abcabc", "******"),
        ("ab cdefgh", "ab ***"),
    ];
    for (text, expected) in cases {
        assert_eq!(masker.mask_str(text), expected, "mask_str({text:?})");
        let streamed =
            stream_in_pieces(&masker, text.as_bytes(), std::iter::repeat_n(1, text.len()));
        assert_eq!(
            String::from_utf8_lossy(&streamed),
            expected,
            "streamed {text:?}"
        );
    }
}

#[test]
fn nothing_is_held_back_after_newline() {
    let masker = overlapping_masker();
    let mut prng = Prng(7);
    for _ in 0..200 {
        let mut stream = MaskStream::new();
        let mut out = Vec::new();
        let mut pushed = String::new();
        for _ in 0..prng.below(8) {
            let len = prng.below(30);
            let mut line = random_text(&mut prng, len).replace('\n', "");
            line.push('\n');
            // Any split inside the line; what matters is the state after its `\n`.
            let cut = prng.below(line.len());
            stream.push(&masker, &line.as_bytes()[..cut], &mut out);
            stream.push(&masker, &line.as_bytes()[cut..], &mut out);
            pushed.push_str(&line);
            assert_eq!(
                String::from_utf8_lossy(&out),
                masker.mask_str(&pushed),
                "output lags behind the last newline"
            );
        }
    }

    // A partial value right before the newline is released with it.
    let masker = masker_of(&["password"]);
    let mut stream = MaskStream::new();
    let mut out = Vec::new();
    stream.push(&masker, b"type passwo", &mut out);
    assert_eq!(out, b"type ");
    stream.push(&masker, b"\n", &mut out);
    assert_eq!(out, b"type passwo\n");
}

#[test]
fn value_added_mid_stream_masks_held_back_bytes() {
    let mut masker = masker_of(&["secret"]);
    let mut stream = MaskStream::new();
    let mut out = Vec::new();
    stream.push(&masker, b"token: sec", &mut out);
    assert_eq!(out, b"token: ");

    assert!(masker.add("secure"));
    stream.push(&masker, b"ure!\n", &mut out);
    assert_eq!(out, b"token: ***!\n");

    // The new value alone, with the held bytes only a prefix of it under the old set.
    let mut masker = masker_of(&["xyz-long"]);
    let mut stream = MaskStream::new();
    let mut out = Vec::new();
    stream.push(&masker, b"a xy", &mut out);
    assert_eq!(out, b"a ");
    masker.add("xy");
    stream.push(&masker, b"!", &mut out);
    assert_eq!(out, b"a ***!");
}

#[test]
fn finish_masks_what_was_held_back() {
    let masker = masker_of(&["abc", "abcdef"]);
    let mut stream = MaskStream::new();
    let mut out = Vec::new();
    stream.push(&masker, b"x abc", &mut out);
    assert_eq!(out, b"x ", "abc may still grow into abcdef");
    stream.finish(&masker, &mut out);
    assert_eq!(out, b"x ***");

    stream.push(&masker, b"y abcd", &mut out);
    stream.finish(&masker, &mut out);
    assert_eq!(out, b"x ***y ***d", "the stream starts over after finish");
}

#[test]
fn json_escaped_form_is_masked() {
    let cases = [
        (
            r#"pa"ss\word"#,
            r#"{"token":"pa\"ss\\word"}"#,
            r#"{"token":"***"}"#,
        ),
        ("tab\there", r#"["tab\there"]"#, r#"["***"]"#),
        ("bell\u{7}ring", r#""bell\u0007ring""#, r#""***""#),
        ("cr\rin-line", r#""cr\rin-line""#, r#""***""#),
    ];
    for (value, printed, expected) in cases {
        let masker = masker_of(&[value]);
        assert_eq!(masker.mask_str(printed), expected, "value {value:?}");
        assert_eq!(
            stream_whole(&masker, printed.as_bytes()),
            expected.as_bytes()
        );
    }
}

#[test]
fn percent_encoded_form_is_masked() {
    let cases = [
        (
            "a b/c!~*'()é",
            "https://h/?t=a%20b%2Fc!~*'()%C3%A9&x=1",
            "https://h/?t=***&x=1",
        ),
        (
            "p@ss:w+rd",
            "https://u:p%40ss%3Aw%2Brd@host/",
            "https://u:***@host/",
        ),
    ];
    for (value, printed, expected) in cases {
        let masker = masker_of(&[value]);
        assert_eq!(masker.mask_str(printed), expected, "value {value:?}");
    }
}

#[test]
fn single_character_value_gets_no_encoded_forms() {
    let masker = masker_of(&["/"]);
    assert_eq!(masker.len(), 1);
    assert_eq!(masker.mask_str("a/b %2F"), "a***b %2F");

    let masker = masker_of(&["é/"]);
    assert_eq!(masker.len(), 2, "two characters: the percent form counts");
}

#[test]
fn empty_and_whitespace_values_are_ignored() {
    for value in ["", " ", "\n", "\r\n", "\t \r\n  \n", "\u{a0}"] {
        let mut masker = Masker::new();
        assert!(!masker.add(value), "{value:?} was registered");
        assert!(masker.is_empty());
        assert_eq!(masker.mask_str("a b\tc\r\nd"), "a b\tc\r\nd");
    }

    let masker = masker_of(&["first\n\n   \nsecond"]);
    assert_eq!(masker.len(), 2);
    assert_eq!(masker.mask_str("first  second"), "***  ***");
}

#[test]
fn adding_a_known_value_adds_nothing() {
    let mut masker = masker_of(&["token-1"]);
    assert!(!masker.add("token-1"));
    assert!(!masker.add("token-1\r\n"));
    assert!(masker.add("token-1\ntoken-2"));
    assert_eq!(masker.len(), 2);
}

#[test]
fn clones_keep_their_values_when_another_adds() {
    let first = masker_of(&["one1"]);
    let mut second = first.clone();
    second.add("two2");
    assert_eq!(first.mask_str("one1 two2"), "*** two2");
    assert_eq!(second.mask_str("one1 two2"), "*** ***");
}

#[test]
fn mask_str_borrows_when_nothing_matches() {
    let masker = masker_of(&["secret"]);
    assert!(matches!(masker.mask_str("nothing here"), Cow::Borrowed(_)));
    assert!(matches!(Masker::new().mask_str("secret"), Cow::Borrowed(_)));
}

#[test]
fn non_utf8_output_passes_through() {
    let text = b"\xff\xfe bin\x80secret\xc3(\x00 secre\xe2\x82";
    let expected = b"\xff\xfe bin\x80***\xc3(\x00 secre\xe2\x82";
    let masker = masker_of(&["secret"]);
    assert_eq!(stream_whole(&masker, text), expected);
    assert_eq!(
        stream_in_pieces(&masker, text, std::iter::repeat_n(1, text.len())),
        expected
    );
    assert_eq!(stream_in_pieces(&Masker::new(), text, [3, 5]), text);
}

#[test]
fn only_a_possible_start_of_a_value_is_held_back() {
    // (input, emitted at once, held back)
    let cases: [(&[u8], &[u8], &[u8]); 6] = [
        (b"x ab", b"x ", b"ab"),
        (b"x b", b"x b", b""),
        (b"x abab", b"x ab", b"ab"),
        (b"x ba", b"x b", b"a"),
        (b"x abc", b"x ***", b""),
        (b"x abca", b"x ***", b"a"),
    ];
    let masker = masker_of(&["abc"]);
    for (input, emitted, held) in cases {
        let mut stream = MaskStream::new();
        let mut out = Vec::new();
        stream.push(&masker, input, &mut out);
        assert_eq!(
            (out.as_slice(), stream.held.as_slice()),
            (emitted, held),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn held_back_bytes_are_bounded() {
    let masker = masker_of(&["aaaaaaab", "abc"]);
    assert_eq!(masker.longest(), 8);
    let mut stream = MaskStream::new();
    let mut out = Vec::new();
    for _ in 0..100 {
        stream.push(&masker, b"a", &mut out);
        assert!(stream.held.len() <= 7, "held {}", stream.held.len());
    }
    stream.push(&masker, b"aab", &mut out);
    assert!(stream.held.capacity() <= 4 * masker.longest());

    let masker = overlapping_masker();
    let mut stream = MaskStream::new();
    let mut prng = Prng(99);
    for _ in 0..2000 {
        let len = prng.below(40);
        let piece = random_text(&mut prng, len);
        stream.push(&masker, piece.as_bytes(), &mut out);
        assert!(stream.held.len() < masker.longest());
        assert!(!stream.held.contains(&b'\n'));
    }

    // With nothing to hide, nothing waits.
    let mut stream = MaskStream::new();
    stream.push(&Masker::new(), b"abc", &mut out);
    assert!(stream.held.is_empty());
}
