"""The vanishing sample as Keras users write it: ten 3×3 sigmoid convs in a Sequential list.
The gradient reaching the first conv is about a millionth of the last layer's and the loss stays
at ln 10.

Analyze Gradients: a vanishing-gradient finding on the first layers.Conv2D(...) line; the quick
fix "Use ReLU instead of sigmoid/tanh" edits the activation="sigmoid" arguments below.
"""
import keras
from keras import layers


def conv(filters):
    return layers.Conv2D(filters, 3, padding="same", activation="sigmoid")


model = keras.Sequential(
    [
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(8, 3, padding="same", activation="sigmoid"),
        *[conv(8) for _ in range(4)],
        layers.MaxPooling2D(2),
        *[conv(8) for _ in range(5)],
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ]
)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="sparse_categorical_crossentropy")
