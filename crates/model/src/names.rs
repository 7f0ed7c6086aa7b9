//! Enums whose values have stable text names (stored in databases, printed in JSON, parsed
//! back from both): [`named_enum!`] states each name once and derives the rest from it.

/// Declares an enum whose variants each carry a text name, and gives it `ALL` (every value, in
/// declaration order), `as_str`, `FromStr` (exact names only, [`ParseError`](crate::ParseError)
/// otherwise), `Display`, and serde as the name. The names are what databases and JSON hold:
/// renaming one is a migration, not a refactoring.
///
/// ```
/// hikyaku_model::named_enum! {
///     /// A colour.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum Colour: "colour" {
///         Red = "red",
///         /// Light blue, in the name of the sky.
///         Sky = "sky-blue",
///     }
/// }
/// assert_eq!(Colour::ALL, [Colour::Red, Colour::Sky]);
/// assert_eq!("sky-blue".parse::<Colour>(), Ok(Colour::Sky));
/// assert_eq!(Colour::Red.to_string(), "red");
/// assert!("Red".parse::<Colour>().is_err());
/// ```
#[macro_export]
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; <[&str]>::len(&[$($text),+])] = [$($name::$variant),+];

            /// The value's name, as stored and printed.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = $crate::ParseError;
            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    _ => Err($crate::ParseError {
                        kind: $what,
                        text: s.to_string(),
                    }),
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::__serde::Serialize for $name {
            fn serialize<S: $crate::__serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::core::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::__serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as $crate::__serde::Deserialize>::deserialize(
                    deserializer,
                )?;
                text.parse().map_err(|_| {
                    <D::Error as $crate::__serde::de::Error>::unknown_variant(&text, &[$($text),+])
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::ParseError;

    named_enum! {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Sample: "sample" {
            One = "one",
            TwoWords = "two-words",
        }
    }

    #[test]
    fn names_parse_print_and_serialize() {
        let table = [(Sample::One, "one"), (Sample::TwoWords, "two-words")];
        assert_eq!(Sample::ALL.len(), table.len());
        for (value, name) in table {
            assert_eq!(value.as_str(), name);
            assert_eq!(value.to_string(), name);
            assert_eq!(name.parse::<Sample>(), Ok(value));
            let json = serde_json::to_string(&value).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Sample>(&json).unwrap(), value);
        }
    }

    #[test]
    fn only_exact_names_parse() {
        for bad in ["", "One", " one", "one ", "two_words", "three"] {
            assert_eq!(
                bad.parse::<Sample>(),
                Err(ParseError {
                    kind: "sample",
                    text: bad.to_string()
                })
            );
            assert!(serde_json::from_str::<Sample>(&format!("{bad:?}")).is_err());
        }
        // An escaped name is still the name: JSON strings need not be borrowed.
        assert_eq!(
            serde_json::from_str::<Sample>("\"tw\\u006f-words\"").unwrap(),
            Sample::TwoWords
        );
    }
}
